"""Contact keys: how e-mail, phone and name are normalised so that lookups find a customer
however the value was typed (pure)."""

import pytest

from services.lifecycle.domain.contact_keys import (
    ContactKeys,
    InvalidContact,
    email_key,
    escape_like,
    name_key,
    phone_key,
)


def test_an_email_is_trimmed_and_case_folded():
    assert email_key("  Alice.Smith@Example.COM ") == "alice.smith@example.com"


def test_an_email_with_a_sharp_s_is_case_folded_the_unicode_way():
    assert email_key("STRAßE@example.de") == email_key("strasse@EXAMPLE.de")


def test_an_empty_email_has_no_key():
    with pytest.raises(InvalidContact, match="empty"):
        email_key("   ")


@pytest.mark.parametrize(
    "typed",
    ["+86 138 0013 8000", "0086 138-0013-8000", "+86 (138) 0013 8000", "8613800138000"],
)
def test_a_phone_becomes_its_digits_with_the_international_prefix_dropped(typed: str):
    assert phone_key(typed) == "8613800138000"


def test_a_national_phone_keeps_its_trunk_zero():
    assert phone_key("(010) 1234-5678") == "01012345678"


@pytest.mark.parametrize("typed", ["call me", "12a34", "+1 555 0100 ext 3", "++12345"])
def test_a_phone_with_other_characters_is_refused(typed: str):
    with pytest.raises(InvalidContact):
        phone_key(typed)


def test_a_phone_longer_than_e164_allows_is_refused():
    with pytest.raises(InvalidContact, match="15"):
        phone_key("+1234567890123456")


def test_a_name_is_case_folded_and_its_whitespace_collapsed():
    assert name_key("  Mary\tJANE   Watson\n") == "mary jane watson"


def test_a_name_is_unicode_normalised_so_composed_and_decomposed_accents_match():
    composed = "Zo\u00eb"  # ë as one code point
    decomposed = "Zoe\u0308"  # e + combining diaeresis
    assert name_key(composed) == name_key(decomposed) == "zo\u00eb"


def test_a_name_in_full_width_letters_matches_its_ascii_form():
    assert name_key("\uff2a\uff4f\uff48\uff4e") == "john"  # ＪＯＨＮ


def test_a_chinese_name_is_kept_and_its_inner_spaces_collapsed():
    assert name_key(" 王　小明 ") == "王 小明"  # an ideographic space is whitespace


def test_a_customers_keys_come_from_its_profile_values_and_skip_unusable_ones():
    keys = ContactKeys.of({"email": " A@B.io", "phone": "not a phone", "name": "Ann  Lee"})
    assert keys == ContactKeys(email="a@b.io", phone=None, name="ann lee")
    assert ContactKeys.of({"locale": "en"}).empty


def test_like_patterns_in_a_prefix_are_escaped():
    assert escape_like("50%_off\\") == "50\\%\\_off\\\\"
