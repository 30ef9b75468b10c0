"""A stored history is read by ids; its items are parsed only where a derivation reads them."""

import orjson
import pytest

from services.lifecycle.domain import changes_between, derive
from services.lifecycle.domain.transitions import (
    History,
    StoredHistory,
    history_text,
    parse_history_text,
    same_history,
)
from tests.unit.lifecycle.story import DEFAULT_RULES, Story, day


def parsed_items(stored: StoredHistory) -> list[object]:
    """Which items have been parsed (None: not read); the list is made on the first read."""
    return [None] * len(stored) if stored._parsed is None else list(stored._parsed)


def a_history():
    story = Story()
    for n in range(4):
        story.purchase(n * 20, amount="900")
    return derive(story.facts(), DEFAULT_RULES, day(400)).history


def test_ids_are_read_from_the_lines_without_parsing_them():
    history = a_history()
    stored = StoredHistory.from_text(history_text([t.to_line() for t in history]))
    assert stored.ids == tuple(t.id for t in history)
    assert parsed_items(stored) == [None] * len(history)
    assert tuple(stored) == tuple(history)


def test_lines_in_another_json_layout_are_parsed_for_their_id():
    history = a_history()
    # jsonb prints keys in its own order, with spaces: the id is then not first.
    reordered = [orjson.dumps(dict(sorted(t.to_json().items()))).decode() for t in history]
    spaced = [line.replace('":', '": ') for line in reordered]
    stored = StoredHistory.from_text("\n".join(spaced))
    assert stored.ids == tuple(t.id for t in history)
    assert tuple(stored) == tuple(history)


def test_an_empty_history_is_stored_as_empty_text():
    assert history_text([]) == ""
    assert len(StoredHistory.from_text("")) == 0
    assert parse_history_text("") == []


def test_a_resumed_history_equals_the_tuple_it_stands_for_and_parses_only_what_is_read():
    history = a_history()
    assert len(history) >= 3
    stored = StoredHistory.from_text(history_text([t.to_line() for t in history[:2]]))
    resumed = History(stored, 2, history[2:])
    assert resumed.ids == tuple(t.id for t in history)
    assert resumed[-1] == history[-1] and resumed[1:3] == tuple(history[1:3])
    assert parsed_items(stored) == [None, history[1]]  # only the stored item read above was parsed
    with pytest.raises(IndexError):
        resumed[len(history)]
    assert resumed == tuple(history) and tuple(history) == resumed
    assert hash(resumed) == hash(tuple(history))
    assert resumed != tuple(history[:-1])


def test_changes_between_histories_parse_only_the_items_they_publish():
    history = a_history()
    stored = StoredHistory.from_text(history_text([t.to_line() for t in history[:2]]))
    resumed = History(stored, 2, history[2:])
    changes = changes_between(stored, resumed)
    assert [c.id for c in changes] == [t.id for t in history[2:]]
    assert parsed_items(stored) == [None, None]


def test_a_history_kept_as_stored_is_compared_without_reading_its_text():
    history = a_history()
    stored = StoredHistory.from_text(history_text([t.to_line() for t in history]))
    assert len(stored) == len(history)  # counted, not split
    kept = History(stored, len(history), ())
    assert changes_between(stored, kept) == []
    assert same_history(kept, stored)
    assert stored._lines is None and stored._ids is None  # never split, no id read
    assert not same_history(History(stored, len(history) - 1, ()), stored)
    assert same_history(tuple(history), stored)  # any sequence of the same transitions
