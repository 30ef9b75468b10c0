"""The keyed hash behind the erasure record and the pseudonym of kept aggregates."""

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from shared.erasure import customer_hash, pseudonym
from shared.settings import LOCAL_ERASURE_SECRET, ServiceSettings

SECRET = "a-test-secret-of-enough-length"


def test_customer_hash_is_hmac_sha256_of_the_id() -> None:
    expected = hmac.new(SECRET.encode(), b"c-42", hashlib.sha256).hexdigest()
    assert customer_hash(SECRET, "c-42") == expected
    assert len(expected) == 64


def test_customer_hash_is_stable_keyed_and_never_the_raw_id() -> None:
    assert customer_hash(SECRET, "c-42") == customer_hash(SECRET, "c-42")
    assert customer_hash(SECRET, "c-42") != customer_hash(SECRET, "c-43")
    assert customer_hash(SECRET, "c-42") != customer_hash(SECRET + "x", "c-42")
    assert customer_hash(SECRET, "c-42") != hashlib.sha256(b"c-42").hexdigest()
    assert "c-42" not in customer_hash(SECRET, "c-42")


def test_pseudonym_differs_from_the_erasure_record_and_fits_an_id_column() -> None:
    anon = pseudonym(SECRET, "c-42")
    assert anon.startswith("anon-") and len(anon) <= 128
    assert anon == pseudonym(SECRET, "c-42")
    assert anon.removeprefix("anon-") not in customer_hash(SECRET, "c-42")
    assert anon != pseudonym(SECRET + "x", "c-42")


def test_the_local_default_secret_is_refused_outside_local_and_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLM_ERASURE_SECRET", raising=False)
    production_db = "postgresql+asyncpg://clm:real@db/clm"
    with pytest.raises(ValidationError, match="CLM_ERASURE_SECRET"):
        ServiceSettings(environment="production", database_url=production_db)
    with pytest.raises(ValidationError, match="CLM_ERASURE_SECRET"):
        ServiceSettings(environment="staging", database_url=production_db)
    assert ServiceSettings(environment="test").erasure_secret == LOCAL_ERASURE_SECRET
    monkeypatch.setenv("CLM_ERASURE_SECRET", SECRET)
    assert (
        ServiceSettings(environment="production", database_url=production_db).erasure_secret
        == SECRET
    )
