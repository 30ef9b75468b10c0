"""Process-wide tuning for a lifecycle worker (applied by the composition roots)."""

import gc


def tune_garbage_collector() -> None:
    """Batches allocate and free many acyclic objects; reference counting reclaims those.

    With the default thresholds the cyclic collector ran every 700 allocations and kept
    re-scanning every live batch object (a third of the CPU per event in the benchmark).
    What start-up created is frozen out of collections altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
