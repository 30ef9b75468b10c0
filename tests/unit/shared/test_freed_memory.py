"""Freed C-heap memory goes back to the system when asked (glibc's malloc_trim)."""

import sys

import psutil
import pytest

from shared.gc_tuning import return_freed_memory

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")


def test_the_pages_of_freed_documents_leave_the_rss() -> None:
    process = psutil.Process()
    documents = [bytes(2048) for _ in range(100_000)]  # ~200 MB in C-heap chunks, as JSON texts
    survivors = documents[::16]  # a few live on, so the heap's top cannot shrink by itself
    del documents
    held = process.memory_info().rss

    return_freed_memory()

    # Seven in eight pages hold no survivor: at least 100 MB of the ~175 MB go back.
    assert held - process.memory_info().rss > 100 * 2**20
    assert len(survivors) == 6250
