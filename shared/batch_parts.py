"""A batch cut by customer into parts that can run as concurrent transactions.

While one part waits on PostgreSQL, the service works on another. Each part holds whole
customers (their items in arrival order, so each customer's stay ordered) and the customers
come in one sorted order, so concurrent parts lock rows in one order and never deadlock. A
repeated event id counts once, by its first item, so no dedup row is claimed in two parts.
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def split_by_customer(
    items: Sequence[T],
    customer_of: Callable[[T], str],
    event_id_of: Callable[[T], str],
    parts: int,
) -> list[dict[str, list[T]]]:
    """At most `parts` parts of about equal numbers of customers, customers sorted across
    them; each maps a customer to its items (first occurrences of their event ids)."""
    first: dict[str, T] = {}
    for item in items:
        first.setdefault(event_id_of(item), item)
    by_customer: dict[str, list[T]] = defaultdict(list)
    for item in items:
        if first[event_id_of(item)] is item:
            by_customer[customer_of(item)].append(item)
    customers = sorted(by_customer)
    if not customers:
        return []
    size = -(-len(customers) // max(parts, 1))
    return [
        {c: by_customer[c] for c in customers[start : start + size]}
        for start in range(0, len(customers), size)
    ]
