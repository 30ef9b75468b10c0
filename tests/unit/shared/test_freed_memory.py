"""Freed C-heap memory goes back to the system when asked (glibc's malloc_trim)."""

import sys

import psutil
import pytest

from shared.gc_tuning import return_freed_memory

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")


def test_the_pages_of_freed_documents_leave_the_rss() -> None:
    process = psutil.Process()
    start = process.memory_info().rss
    documents = [bytes(2048) for _ in range(60_000)]  # ~120 MB in C-heap chunks, as JSON texts
    survivors = documents[::16]  # a few live on, so the heap's top cannot shrink by itself
    del documents
    held = process.memory_info().rss - start

    return_freed_memory()

    assert held > 80 * 2**20  # the freed chunks still counted
    assert process.memory_info().rss - start < held / 2
    assert len(survivors) == 3750
