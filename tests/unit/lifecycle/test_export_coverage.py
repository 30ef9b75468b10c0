"""The right-of-access export shows every table erasure clears: what can be erased and what
is shown to the customer cannot drift apart."""

from services.lifecycle import erasure
from services.lifecycle.customer_export import EXPORTED_AS, plain


def test_every_table_erasure_clears_is_exported():
    erased = set(erasure._ALWAYS_DELETED) | set(erasure._AGGREGATES)
    assert erased <= set(EXPORTED_AS), erased - set(EXPORTED_AS)


def test_stored_values_are_exported_as_json_reads_them():
    from datetime import UTC, date, datetime
    from decimal import Decimal

    row = {
        "amount": Decimal("12.50"),
        "at": datetime(2024, 1, 2, tzinfo=UTC),
        "day": date(2024, 1, 2),
    }
    assert plain(row) == {"amount": "12.50", "at": "2024-01-02T00:00:00+00:00", "day": "2024-01-02"}
