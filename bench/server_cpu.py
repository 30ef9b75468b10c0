"""CPU seconds used so far by the local PostgreSQL server's processes (all of its backends).

Benchmarks print it per event beside their own process's CPU: on two cores the database's
share decides as much as ours. Zero when the server is not local or not visible.
"""

import psutil


def postgres_cpu_seconds(port: int | None = None) -> float:
    """Every local postgres process; with `port`, only the server listening there (its
    postmaster, its backends and those that exited): other servers on a shared machine
    (one per worktree) would count otherwise."""
    if port is not None:
        return _server_cpu_seconds(port)
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        name, times = process.info["name"] or "", process.info["cpu_times"]
        if times is not None and name.startswith("postgres"):
            total += times.user + times.system
    return total


def _server_cpu_seconds(port: int) -> float:
    postmaster = None
    for process in psutil.process_iter(["name", "cmdline"]):
        args = process.info["cmdline"] or []
        if (process.info["name"] or "").startswith("postgres") and "-p" in args:
            if args[args.index("-p") + 1 : args.index("-p") + 2] == [str(port)]:
                postmaster = process
    if postmaster is None:
        return 0.0
    try:
        own = postmaster.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in postmaster.children():
            times = child.cpu_times()
            total += times.user + times.system
    except psutil.Error:
        return 0.0
    return total
