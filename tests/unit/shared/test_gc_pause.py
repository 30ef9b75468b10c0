"""The cyclic collector stays off while any batch is in flight, and comes back as it was."""

import gc
from collections.abc import Iterator

import pytest

from shared.gc_tuning import collection_paused


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collector_enabled")
def test_overlapping_batches_keep_the_collector_off_until_the_last_one_ends() -> None:
    first, second = collection_paused(), collection_paused()
    first.__enter__()
    assert not gc.isenabled()
    second.__enter__()  # a second batch (say the scheduler's) starts while the first runs
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second is still in flight
    second.__exit__(None, None, None)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_a_failing_batch_still_turns_the_collector_back_on() -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
