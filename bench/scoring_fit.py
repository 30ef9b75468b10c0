"""BG/NBD fit on 1,000,000 simulated customers: ours (collapsed sufficient statistics)
against lifetimes' BetaGeoFitter on the same data, run in bench/.venv.

    .venv/bin/python bench/scoring_fit.py [--customers N] [--seed S]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.scoring.domain import bgnbd  # noqa: E402
from services.scoring.domain.simulation import simulate_bgnbd  # noqa: E402
from services.scoring.domain.summary import collapse  # noqa: E402

BENCH_VENV = ROOT / "bench" / ".venv"
REQUIREMENTS = ROOT / "bench" / "requirements-lifetimes.txt"
TRUE = bgnbd.BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
NAMES = ("r", "alpha", "a", "b")

LIFETIMES_FIT = """
import json, sys, time, warnings
import numpy as np
from lifetimes import BetaGeoFitter
from lifetimes.utils import ConvergenceError
warnings.simplefilter("ignore")
data = np.load(sys.argv[1])
out = {}
for label, prefix in (("rows", ""), ("collapsed", "c_")):
    weights = data["c_weights"] if prefix else None
    for tol in (1e-10, 1e-9, 1e-8, 1e-7):  # the tightest tolerance its BFGS accepts
        start = time.perf_counter()
        try:
            fitter = BetaGeoFitter().fit(
                data[prefix + "x"], data[prefix + "t_x"], data[prefix + "T"],
                weights=weights, tol=tol,
            )
        except ConvergenceError:
            continue
        out[label] = {"seconds": time.perf_counter() - start, "tol": tol,
                      "params": [float(fitter.params_[k]) for k in ("r", "alpha", "a", "b")]}
        break
print(json.dumps(out))
"""


def lifetimes_python() -> Path:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {BENCH_VENV} (lifetimes and its old pins) ...", flush=True)
        venv.create(BENCH_VENV, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
        )
    return python


def simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cohorts joining over a year, observed in weeks at day resolution (as summarise does)."""
    rng = np.random.default_rng(seed)
    age_days = rng.integers(1, 366, n)
    population = simulate_bgnbd(TRUE, age_days / 7.0, rng)
    recency_days = np.floor(population.recency * 7.0)
    return population.frequency, recency_days / 7.0, age_days / 7.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    x, t_x, big_t = simulate(args.customers, args.seed)
    start = time.perf_counter()
    rows = collapse(x, t_x, big_t)
    collapsed_at = time.perf_counter()
    ours = bgnbd.fit(rows.frequency, rows.recency, rows.age, weights=rows.weights)
    ours_seconds = time.perf_counter() - start
    our_params = np.array([getattr(ours, name) for name in NAMES])
    print(f"customers: {args.customers:,}  unique (x, t_x, T) rows: {len(rows.weights):,}")
    print(
        f"ours:      {ours_seconds:8.3f} s (collapse {collapsed_at - start:.3f} s, "
        f"fit {ours_seconds - (collapsed_at - start):.3f} s, {ours.iterations} iterations)  "
        + "  ".join(f"{n}={v:.6f}" for n, v in zip(NAMES, our_params, strict=True))
    )
    print(f"true:      {'':8}     " + "  ".join(f"{n}={getattr(TRUE, n):.6f}" for n in NAMES))

    try:
        python = lifetimes_python()
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"lifetimes unavailable: could not build {BENCH_VENV}: {error}")
        return
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "sample.npz"
        np.savez(
            data,
            x=x,
            t_x=t_x,
            T=big_t,
            c_x=rows.frequency,
            c_t_x=rows.recency,
            c_T=rows.age,
            c_weights=rows.weights,
        )
        done = subprocess.run(
            [str(python), "-c", LIFETIMES_FIT, str(data)], capture_output=True, text=True
        )
    if done.returncode != 0:
        print(f"lifetimes failed:\n{done.stderr[-2000:]}")
        return
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    for label, title in (("rows", "all rows"), ("collapsed", "collapsed + weights")):
        if label not in theirs:
            print(f"lifetimes ({title}): did not converge at any tolerance")
            continue
        seconds = theirs[label]["seconds"]
        params = np.array(theirs[label]["params"])
        difference = float(np.max(np.abs(our_params - params) / np.abs(params)))
        print(
            f"lifetimes ({title}, tol={theirs[label]['tol']:g}): {seconds:8.3f} s  speed-up {seconds / ours_seconds:6.1f}x  "
            f"max relative difference of (r, alpha, a, b) {difference:.2e}  "
            f"[{'OK' if seconds / ours_seconds >= 5 and difference <= 1e-3 else 'FAIL'}]"
        )


if __name__ == "__main__":
    main()
