"""Every benchmark, one after another, each in its own process so none inherits another's memory.

Run: make bench   (or .venv/bin/python -m bench.run_all [--only ingest notify ...])
Each prints its own figures beside its baseline and requirement; this prints how each ended.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS: dict[str, list[str]] = {
    "ingest": ["-m", "bench.ingest"],
    "lifecycle": ["-m", "bench.lifecycle", "--events", "1000000", "--customers", "100000"],
    "scoring_fit": ["bench/scoring_fit.py"],
    "scoring_service": ["-m", "bench.scoring_service"],
    "notify": ["-m", "bench.notify"],
    "notify_intake": ["-m", "bench.notify_intake"],
    "notify_sustained": ["-m", "bench.notify_sustained"],
    "audiences_membership": ["-m", "bench.audiences_membership"],
    "audiences_export": ["-m", "bench.audiences_export"],
    # Against the running services: starts them as `make run` does (left running: make stop).
    "pipeline_latency": ["-m", "bench.pipeline_latency", "--start-stack", "--fit"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=list(BENCHMARKS))
    args = parser.parse_args()
    outcomes: list[tuple[str, int, float]] = []
    for name in args.only:
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, *BENCHMARKS[name]], cwd=ROOT)
        outcomes.append((name, code, time.monotonic() - started))
    print("\n=== summary ===")
    for name, code, seconds in outcomes:
        print(f"{name:16} exit {code}  {seconds:7.1f} s")
    return max((code for _, code, _ in outcomes), default=0)


if __name__ == "__main__":
    sys.exit(main())
