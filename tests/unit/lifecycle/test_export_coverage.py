"""The right-of-access export shows every table erasure clears, in every service that erases
on the tombstone: what can be erased and what is shown to the customer cannot drift apart."""

from services.audiences.adapters import erasure as audiences_erasure
from services.lifecycle.adapters import erasure as lifecycle_erasure
from services.lifecycle.adapters.customer_export import EXPORTED_AS, plain
from services.notify.adapters import erasure as notify_erasure
from services.scoring.adapters import erasure as scoring_erasure


def test_every_table_erasure_clears_is_exported():
    erased = (
        set(lifecycle_erasure._ALWAYS_DELETED)
        | set(lifecycle_erasure._AGGREGATES)
        | set(scoring_erasure._ALWAYS_DELETED)
        | set(scoring_erasure._AGGREGATES)
        | set(notify_erasure._DELETED)
        | set(audiences_erasure._DELETED)
    )
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
