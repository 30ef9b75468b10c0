"""Emails carry an HTML part beside the text and RFC 8058 one-click unsubscribe headers whose
URL holds a token only notify can make (issue 18, item 8)."""

from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import partial
from typing import cast

import pytest

from services.notify.adapters.channels import Outgoing
from services.notify.adapters.smtp import SmtpEmail
from services.notify.domain.unsubscribe import (
    InvalidUnsubscribeToken,
    read_unsubscribe_token,
    unsubscribe_token,
    unsubscribe_url,
)

SECRET = "unsub-secret"


def _outgoing(body: str = "Hello Ann,\n\nWelcome <aboard> & thanks.") -> Outgoing:
    return Outgoing(
        message_id="9b2f3c1e-0000-4000-8000-000000000001", customer_id="cust-42", channel="email",
        to="ann@example.com", subject="Welcome, Ann!", body=body, locale="en",
        playbook="new_customer", step="welcome",
    )  # fmt: skip


def _parsed(adapter: SmtpEmail, message: Outgoing) -> EmailMessage:
    raw = adapter._compose(message)
    return cast(EmailMessage, message_from_bytes(raw, policy=policy.default))


def test_an_email_has_a_text_and_an_html_part_saying_the_same() -> None:
    adapter = SmtpEmail(host="127.0.0.1", port=1, sender="Care <care@clm.example>")
    mail = _parsed(adapter, _outgoing())
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Welcome <aboard> & thanks." in text.get_content()
    assert "Welcome &lt;aboard&gt; &amp; thanks." in html.get_content()  # escaped, never markup
    assert mail["Subject"] == "Welcome, Ann!"
    assert "List-Unsubscribe" not in mail  # no link without a configured URL


def test_an_email_carries_one_click_unsubscribe_headers_and_links() -> None:
    links = partial(unsubscribe_url, "https://notify.example/", SECRET, channel="email")
    adapter = SmtpEmail(
        host="127.0.0.1", port=1, sender="care@clm.example",
        unsubscribe_url=lambda customer: links(customer_id=customer),
    )  # fmt: skip
    mail = _parsed(adapter, _outgoing())
    header = str(mail["List-Unsubscribe"])
    assert header.startswith("<https://notify.example/v1/unsubscribe/") and header.endswith(">")
    assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    url = header[1:-1]
    token = url.rsplit("/", 1)[1]
    assert read_unsubscribe_token(SECRET, token) == ("cust-42", "email")
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert url in text.get_content()
    assert f'href="{url}"' in html.get_content()


@pytest.mark.parametrize(
    "token",
    [
        unsubscribe_token("another secret", "cust-42", "email"),
        unsubscribe_token(SECRET, "cust-42", "email").replace(".email.", ".sms."),
        "not-a-token",
        "!!!.email.00",
    ],
)
def test_a_token_not_made_with_the_secret_is_refused(token: str) -> None:
    with pytest.raises(InvalidUnsubscribeToken):
        read_unsubscribe_token(SECRET, token)


def test_tokens_round_trip_any_customer_id() -> None:
    for customer in ("c", "客户-1", "a.b.c", "x" * 128):
        assert read_unsubscribe_token(SECRET, unsubscribe_token(SECRET, customer, "email")) == (
            customer,
            "email",
        )
