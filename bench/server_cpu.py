"""CPU seconds used so far by the local PostgreSQL server's processes (all of its backends).

Benchmarks print it per event beside their own process's CPU: on two cores the database's
share decides as much as ours. Zero when the server is not local or not visible.
"""

import psutil


def postgres_cpu_seconds() -> float:
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        name, times = process.info["name"] or "", process.info["cpu_times"]
        if times is not None and name.startswith("postgres"):
            total += times.user + times.system
    return total
