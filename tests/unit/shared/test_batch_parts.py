"""A batch cut by customer: whole customers per part, in order, each event id once."""

from dataclasses import dataclass

from shared.batch_parts import split_by_customer


@dataclass(eq=False)  # each item its own record, as a batch's are
class Item:
    customer: str
    event_id: str


def _split(items: list[Item], parts: int) -> list[dict[str, list[tuple[str, str]]]]:
    split = split_by_customer(items, lambda i: i.customer, lambda i: i.event_id, parts)
    return [
        {c: [(i.customer, i.event_id) for i in its] for c, its in part.items()} for part in split
    ]


def _items(*pairs: str) -> list[Item]:
    return [Item(pair[0], pair[1:]) for pair in pairs]


def test_each_customer_is_whole_in_one_part_in_arrival_order() -> None:
    parts = _split(_items("c1", "a2", "b3", "c4", "a5", "d6"), 2)

    assert parts == [
        {"a": [("a", "2"), ("a", "5")], "b": [("b", "3")]},
        {"c": [("c", "1"), ("c", "4")], "d": [("d", "6")]},
    ]


def test_a_repeated_event_id_counts_once_by_its_first_item() -> None:
    # A redelivery in the batch, and the same id under another customer (a bad upstream):
    # claimed once, in one part only.
    assert _split(_items("a1", "b1", "a2", "a1"), 2) == [{"a": [("a", "1"), ("a", "2")]}]


def test_fewer_customers_than_parts_give_a_part_each_and_none_give_none() -> None:
    assert _split(_items("b1", "a2"), 8) == [{"a": [("a", "2")]}, {"b": [("b", "1")]}]
    assert _split([], 2) == []
    assert _split(_items("a1", "b2"), 1) == [{"a": [("a", "1")], "b": [("b", "2")]}]
