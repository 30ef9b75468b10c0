"""`printable` refuses exactly Unicode's control characters (category Cc), naming the first."""

import sys
import unicodedata

import pytest

from shared.event_limits import printable


def test_it_refuses_exactly_the_control_characters_of_unicode() -> None:
    refused = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates: not characters a decoded JSON string can hold
        try:
            printable(f"a{chr(code)}b")
        except ValueError:
            refused.append(code)
    controls = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cc"]
    assert refused == controls


def test_the_error_names_the_first_control_character() -> None:
    with pytest.raises(ValueError, match=r"found U\+0000"):
        printable("ok\x00then\x1f")
    assert printable("Zoë — 北京 \u200b") == "Zoë — 北京 \u200b"
