"""An email as the sink keeps it: the headers an operator checks, its text and HTML parts."""

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

SHOWN_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "X-CLM-Message-Id", "X-CLM-Playbook",
    "Content-Language", "List-Unsubscribe", "List-Unsubscribe-Post",
)  # fmt: skip


def email_record(raw: bytes, envelope_to: list[str]) -> dict[str, Any]:
    mail = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    return {
        "to": str(mail["To"] or (envelope_to[0] if envelope_to else "")),
        "subject": str(mail["Subject"] or ""),
        "headers": {name: str(mail[name]) for name in SHOWN_HEADERS if mail[name] is not None},
        "content_type": mail.get_content_type(),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
    }
