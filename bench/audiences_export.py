"""A 1,000,000-member segment exported through the audiences service, as NDJSON and CSV.

Run: make infra && .venv/bin/python -m bench.audiences_export [--members 1000000]

Set-up (not timed): `--members` customers in audience_customers (every column filled, made by
generate_series in PostgreSQL) and all of them members of one segment; an audiences process
(uvicorn, consumers and sweeper off) on a free port; an API key with segments:read.

Printed, in rows/s of the same run (rows = members exported, each one line):
- baseline: the export's NDJSON stream (COPY ... TO STDOUT) read by this process straight from
  PostgreSQL and dropped (no HTTP): what the database and the driver deliver;
- ndjson and csv: GET /v1/segments/{name}/export read to the end over HTTP (all lines counted);
  the requirement is >= 50,000 rows/s;
- the service's resident memory before and at its peak during each export (VmRSS / VmHWM from
  /proc, MiB): a streamed export keeps the peak near the idle size, whatever the segment's size.
Uses its own customers (prefix bx-<run>-) and segment; removes them afterwards.
"""

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from deploy.local.stack import uvicorn_command
from services.audiences.service_layer.segments import EXPORT_FORMAT, EXPORT_SQL
from shared.auth import register_key
from shared.db import make_engine

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://clm:clm@127.0.0.1:55432/clm")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REQUIRED_ROWS_PER_SECOND = 50_000

_CUSTOMERS = """
INSERT INTO audience_customers (customer_id, stage, flags, tier, clv, clv_percentile, churn_risk,
    p_alive, health_score, rfm_segment, scored_at, last_purchase_at, purchase_count, locale,
    attributes, profile_at)
SELECT :prefix || lpad(i::text, 7, '0'),
       (ARRAY['acquisition','development','maintenance','churn'])[1 + i % 4],
       CASE WHEN i % 5 = 0 THEN ARRAY['at_risk'] ELSE ARRAY[]::varchar[] END,
       (ARRAY['A','B','C'])[1 + i % 3], (i % 9973) * 12.5, (i % 100)::float8,
       (i % 997) / 997.0, 1 - (i % 997) / 997.0, (i % 101)::float8,
       (ARRAY['champions','loyal','at_risk','lost'])[1 + i % 4], now(),
       now() - make_interval(days => i % 365), 1 + i % 20,
       (ARRAY['en','zh-CN','de-DE'])[1 + i % 3], '{"plan": "gold"}'::jsonb, now()
FROM generate_series(1, :n) AS i
"""
_MEMBERS = """
INSERT INTO audience_members (segment, customer_id, entered_at)
SELECT :segment, customer_id, now() FROM audience_customers WHERE customer_id LIKE :pattern
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_service(port: int) -> "subprocess.Popen[bytes]":
    """An audiences process that only answers HTTP (no consumers, no sweeper)."""
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "KAFKA_BOOTSTRAP_SERVERS": KAFKA,
        "CLM_AUDIENCES_RUN_CONSUMER": "false",
        "CLM_AUDIENCES_RUN_SWEEPER": "false",
    }
    return subprocess.Popen(
        uvicorn_command("services.audiences.app:app", port, "--no-access-log"),
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the process, MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def _reset_peak(pid: int) -> None:
    """Resets VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


async def _baseline(segment: str) -> tuple[int, float]:
    """The export's NDJSON COPY read into this process and dropped: what PostgreSQL delivers."""
    engine = make_engine(DATABASE_URL, 1)
    lines = 0

    async def count(chunk: bytes) -> None:
        nonlocal lines
        lines += chunk.count(b"\n")

    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            began = time.perf_counter()
            await driver.copy_from_query(
                EXPORT_SQL["ndjson"], segment, output=count, **EXPORT_FORMAT["ndjson"]
            )
            return lines, time.perf_counter() - began
    finally:
        await engine.dispose()


async def _export(url: str, key: str, segment: str, fmt: str, pid: int) -> tuple[int, float, float]:
    """(lines, seconds, peak RSS MiB) of one export read to the end."""
    _reset_peak(pid)
    headers = {"Authorization": f"Bearer {key}"}
    lines = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as client:
        began = time.perf_counter()
        params = {"format": fmt}
        async with client.stream("GET", f"/v1/segments/{segment}/export", params=params) as resp:
            assert resp.status_code == 200, await resp.aread()
            async for chunk in resp.aiter_bytes():
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - began
    return lines - (1 if fmt == "csv" else 0), seconds, _memory_mib(pid)[1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000_000)
    args = parser.parse_args()
    run = secrets.token_hex(3)
    prefix, segment = f"bx-{run}-", f"bench-export-{run}"
    key = f"clm_bench_{secrets.token_urlsafe(18)}"
    engine = make_engine(DATABASE_URL, 2)
    proc: subprocess.Popen[bytes] | None = None
    try:
        began = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(sa.text(_CUSTOMERS), {"prefix": prefix, "n": args.members})
            await conn.execute(
                sa.text(
                    "INSERT INTO audience_segments (name, filter, time_relative, "
                    "uses_percentile, created_at, built_at) VALUES (:name, "
                    """'{"field": "attributes.plan", "eq": "gold"}', false, false, now(), now())"""
                ),
                {"name": segment},
            )
            await conn.execute(sa.text(_MEMBERS), {"segment": segment, "pattern": f"{prefix}%"})
        async with engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE audience_customers"))
            await conn.execute(sa.text("ANALYZE audience_members"))
        await register_key(engine, key, "bench-audiences-export", ["segments:read"])
        print(f"set-up: {args.members:,} members in {time.perf_counter() - began:.1f} s")

        port = _free_port()
        proc = _start_service(port)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=url) as client:
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("audiences not ready within 60 s")
                await asyncio.sleep(0.3)
        idle = _memory_mib(proc.pid)[0]

        rows, seconds = await _baseline(segment)
        print(f"\n{'':24}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS MiB':>14}")
        print(f"{'baseline (COPY only)':24}{rows:>12,}{seconds:>10.2f}{rows / seconds:>12,.0f}")
        worst = float("inf")
        for fmt in ("ndjson", "csv"):
            lines, seconds, peak = await _export(url, key, segment, fmt, proc.pid)
            assert lines == args.members, f"{fmt}: {lines} lines for {args.members} members"
            rate = lines / seconds
            worst = min(worst, rate)
            print(f"{'export ' + fmt:24}{lines:>12,}{seconds:>10.2f}{rate:>12,.0f}{peak:>14.0f}")
        print(f"\nservice RSS when idle: {idle:.0f} MiB")
        ok = worst >= REQUIRED_ROWS_PER_SECOND
        print(f"requirement >= {REQUIRED_ROWS_PER_SECOND:,} rows/s: {'met' if ok else 'NOT met'}")
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("DELETE FROM audience_members WHERE segment = :s"), {"s": segment}
            )
            await conn.execute(
                sa.text("DELETE FROM audience_segments WHERE name = :s"), {"s": segment}
            )
            await conn.execute(
                sa.text("DELETE FROM audience_customers WHERE customer_id LIKE :p"),
                {"p": f"{prefix}%"},
            )
            await conn.execute(
                sa.text("DELETE FROM api_keys WHERE name = 'bench-audiences-export'")
            )
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
