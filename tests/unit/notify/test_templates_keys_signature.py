"""Templates with locale fallback, deterministic keys and coupons, webhook signatures, backoff."""

import random
from datetime import timedelta

import pytest

from services.notify.bootstrap import load_configuration
from services.notify.domain import TemplateBook
from services.notify.domain.customers import CustomerProfile, merge_profile
from services.notify.domain.keys import coupon_code, message_id
from services.notify.domain.playbooks import PlaybookError
from services.notify.domain.retries import retry_delay
from services.notify.domain.signature import SignatureError, sign, verify
from services.notify.settings import NotifySettings

TEMPLATES = load_configuration(NotifySettings()).templates


def test_renders_in_the_customers_locale() -> None:
    out = TEMPLATES.render("win_back_offer", "zh-CN", {"name": "王芳", "coupon": "WB-1"})
    assert out.locale == "zh-CN"
    assert "WB-1" in out.body
    assert "王芳" in out.body


def test_falls_back_by_language_then_to_the_default_locale() -> None:
    assert TEMPLATES.render("welcome", "zh-TW", {}).locale == "zh-CN"
    assert TEMPLATES.render("welcome", "fr-FR", {"name": "Anne"}).locale == "en"
    assert TEMPLATES.render("call_back_task", "zh-CN", {"customer_id": "c9"}).locale == "en"
    assert TEMPLATES.render("welcome", None, {}).subject == "Welcome!"


def test_a_broken_template_is_refused_at_load() -> None:
    with pytest.raises(PlaybookError, match=r"templates\.x\.en"):
        TemplateBook({"x": {"en": {"subject": "{{ oops", "body": "b"}}}, "en")


def test_templates_cannot_reach_python_internals() -> None:
    book = TemplateBook({"x": {"en": {"body": "{{ name.__class__.__mro__ }}"}}}, "en")
    with pytest.raises(Exception, match=r"unsafe|access"):
        book.render("x", "en", {"name": "a"})


def test_message_ids_and_coupons_are_deterministic_and_distinct() -> None:
    assert message_id("p", "c", "o", "s") == message_id("p", "c", "o", "s")
    assert message_id("p", "c", "o", "s") != message_id("p", "c", "o2", "s")
    a = coupon_code("secret", "churned", "c1", "occ1")
    assert a == coupon_code("secret", "churned", "c1", "occ1")
    assert a.startswith("WB-") and len(a) == 19
    assert a != coupon_code("secret", "churned", "c2", "occ1")
    assert a != coupon_code("other", "churned", "c1", "occ1")


def test_signature_round_trip_and_rejections() -> None:
    body = b'{"task": "call"}'
    header = sign("s3cret", body, timestamp=1_700_000_000)
    assert verify("s3cret", header, body, now=1_700_000_010) == 1_700_000_000
    with pytest.raises(SignatureError, match="match"):
        verify("s3cret", header, body + b" ", now=1_700_000_010)
    with pytest.raises(SignatureError, match="match"):
        verify("wrong", header, body, now=1_700_000_010)
    with pytest.raises(SignatureError, match="replay"):
        verify("s3cret", header, body, now=1_700_000_000 + 3600)
    with pytest.raises(SignatureError, match="needs"):
        verify("s3cret", "garbage", body)


def test_signature_accepts_any_of_several_digests_during_rotation() -> None:
    body = b"{}"
    new = sign("new", body, timestamp=100).split(",")[1]
    old = sign("old", body, timestamp=100)
    assert verify("new", f"{old},{new}", body, now=100) == 100


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    delays = [retry_delay(n, 30, 3600, rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(3600, 30 * 2 ** (n - 1))
        assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling)
    assert delays[-1] <= timedelta(hours=1)


def test_newer_profile_events_override_and_older_ones_only_fill_gaps() -> None:
    from datetime import UTC, datetime

    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    profile, at = merge_profile(
        CustomerProfile("c"), {"email": "new@x.io", "consent": {"email": False}}, t2, None
    )
    profile, at = merge_profile(
        profile,
        {"email": "old@x.io", "name": "Ann", "consent": {"email": True, "sms": True}},
        t1,
        at,
    )
    assert (profile.email, profile.name, at) == ("new@x.io", "Ann", t2)
    assert profile.consent == {"email": False, "sms": True}
