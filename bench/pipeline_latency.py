"""End-to-end latency of the running stack: ingest's 202 -> lifecycle change / score on Kafka.

Run (against the stack `make run` starts, with the same CLM_* port exports):
    .venv/bin/python -m bench.pipeline_latency [--rate 2000 --seconds 60]
`--start-stack` runs `stack.py up` first, `--fit` fits a scoring model if there is none (scoring
publishes scores only with a model); `make bench` (bench/run_all.py --only pipeline_latency)
runs it with both and leaves the stack running (`make stop`).

What it does, in one run:
1. Starts its own consumers (no group, read_committed, at the log end) on the five platform
   topics, before any load, so every record the load causes is seen.
2. Baseline: `--baseline-rate` events/s (default 5) for `--baseline-seconds`, every event a
   probe (a new customer's first purchase) posted alone in a batch, from one client.
3. Load (`--seconds 0`: none): `--rate` events/s (default 2,000) for `--seconds` (default 60), batches of `--batch`
   (100) from `--clients` (4) concurrent clients on a fixed schedule (batch k is due at
   start + k * batch / rate, whatever happened to earlier ones). Each batch is one probe plus
   purchases and contacts of `--customers` returning customers.
4. After the load: each consumer group's lag, and the time until every group's lag is 0.

Figures (milliseconds, wall clock of this machine; every process shares it):
- latency to lifecycle change = time this bench's consumer receives the probe customer's first
  record on clm.lifecycle-changes.v1 - time ingest's 202 for the probe's batch arrived;
  latency to score: the same on clm.customer-scores.v1. p50/p95/p99 over the probes.
- per stage, per probe (p50/p95/p99), from timestamps the platform already writes:
  ingest produce     = 202 - the event record's Kafka timestamp (set when ingest appended it)
  visible            = this bench reading the event (read_committed) - 202
  lifecycle batch + relay wait = the lifecycle change record's Kafka timestamp (set when the
                       outbox relay appended it) - 202: fetch, queueing behind the batch in
                       progress, the probe's batch transaction, the relay's wake-up and read
  relay -> reader    = this bench receiving the change - its record timestamp: produce acks
                       and fetch
  scores: 202 -> record timestamp (scoring's batch + relay), record timestamp -> reader.
- per consumer group, from the services' /metrics during the load: batches, mean records per
  batch (clm_events_consumed_total / batches), mean batch seconds
  (clm_consumer_batch_duration_seconds sum / count).
- CPU seconds of each process tree stack.py started (.state/pids, with children), of this bench
  and of the rest of the machine: during the load, and from its start until every lag was 0
  divided by the events accepted (the work per event; x rate = the cores that rate needs).
- lag of a group = data records (not transaction markers) on the partitions it has committed
  offsets for, at or after its committed offset; "caught up" = the first moment after the
  load's last 202 at which every group's lag is 0, in seconds after that 202.
Target (issue 19): p99 <= 250 ms at 2,000 events/s, every group's lag 0 within 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.topics import (
    CUSTOMER_EVENTS,
    CUSTOMER_SCORES,
    CUSTOMER_STATE,
    LIFECYCLE_CHANGES,
    NOTIFICATIONS,
)
from tests.support.factories import contact, purchase

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("CLM_STATE_DIR", ROOT / ".state"))
TOPICS = [CUSTOMER_EVENTS, LIFECYCLE_CHANGES, CUSTOMER_SCORES, NOTIFICATIONS, CUSTOMER_STATE]
# The services' consumer groups as `make run` starts them (their settings' defaults).
SERVICE_GROUPS = [
    "clm-lifecycle", "clm-lifecycle-scores", "clm-scoring",
    "clm-notify-events", "clm-notify-lifecycle", "clm-notify-scores",
]  # fmt: skip
SERVICE_PORTS = {
    "lifecycle": int(os.environ.get("CLM_LIFECYCLE_PORT", "8002")),
    "scoring": int(os.environ.get("CLM_SCORING_PORT", "8003")),
    "notify": int(os.environ.get("CLM_NOTIFY_PORT", "8004")),
}


def _stack_env() -> dict[str, str]:
    path = STATE / "env.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _default_key() -> str | None:
    path = STATE / "dev-api-key"
    return os.environ.get("CLM_API_KEY") or (path.read_text().strip() if path.exists() else None)


@dataclass
class Probe:
    customer_id: str
    accepted: float | None = None  # wall clock of the 202
    event_ts: float | None = None  # Kafka timestamp of the event record
    event_seen: float | None = None
    change_ts: float | None = None
    change_seen: float | None = None
    score_ts: float | None = None
    score_seen: float | None = None
    event_id: str | None = None
    # From the consumers' dedup rows (processed_events): their transaction's start (now())
    # and, with track_commit_timestamp, its commit.
    lifecycle_began: float | None = None
    lifecycle_committed: float | None = None
    scoring_began: float | None = None
    scoring_committed: float | None = None


@dataclass
class Readers:
    """This bench's own consumers: every data record's offset, and the probes' arrival."""

    probes: dict[bytes, Probe]
    offsets: dict[TopicPartition, list[int]] = field(default_factory=dict)

    def lag(self, committed: dict[TopicPartition, int]) -> int:
        total = 0
        for tp, offset in committed.items():
            seen = self.offsets.get(tp)
            if seen:
                total += len(seen) - bisect.bisect_left(seen, offset)
        return total

    async def run(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=20_000)
            now = time.time()
            for tp, records in batch.items():
                self.offsets.setdefault(tp, []).extend(r.offset for r in records)
                for r in records:
                    probe = self.probes.get(r.key) if r.key else None
                    if probe is not None:
                        self._arrived(probe, tp.topic, r.timestamp / 1000, now)

    @staticmethod
    def _arrived(probe: Probe, topic: str, ts: float, now: float) -> None:
        if topic == CUSTOMER_EVENTS and probe.event_seen is None:
            probe.event_ts, probe.event_seen = ts, now
        elif topic == LIFECYCLE_CHANGES and probe.change_seen is None:
            probe.change_ts, probe.change_seen = ts, now
        elif topic == CUSTOMER_SCORES and probe.score_seen is None:
            probe.score_ts, probe.score_seen = ts, now


async def start_readers(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    cluster = await consumer._client.fetch_all_metadata()
    parts = [TopicPartition(t, p) for t in TOPICS for p in sorted(cluster.partitions_for_topic(t))]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:  # resolves the end now, before any load
        await consumer.position(tp)
    return consumer


class Lag:
    """Each group's committed offsets through the admin API."""

    def __init__(self, bootstrap: str, groups: list[str]) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._wanted = groups
        self.groups: list[str] = []

    async def start(self) -> None:
        await self._admin.start()
        listed = {g[0] for g in await self._admin.list_consumer_groups()}
        self.groups = sorted(g for g in self._wanted if g in listed)

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        offsets = await self._admin.list_consumer_group_offsets(group)
        return {tp: o.offset for tp, o in offsets.items() if tp.topic in TOPICS and o.offset >= 0}

    async def backlog(self, consumer: AIOKafkaConsumer) -> dict[str, int]:
        """Records behind the (last stable) log end, ignoring one transaction marker per
        partition: what the groups have left from before this bench's readers started."""
        found = await asyncio.gather(*(self.committed(g) for g in self.groups))
        ends = await consumer.end_offsets(sorted({tp for c in found for tp in c}, key=str))
        return {
            g: sum(max(0, ends[tp] - offset - 1) for tp, offset in c.items())
            for g, c in zip(self.groups, found, strict=True)
        }

    async def lags(self, readers: Readers) -> dict[str, int]:
        found = await asyncio.gather(*(self.committed(g) for g in self.groups))
        return {g: readers.lag(c) for g, c in zip(self.groups, found, strict=True)}

    async def close(self) -> None:
        await self._admin.close()


def stack_cpu() -> dict[str, float]:
    """CPU seconds used so far by each process `stack.py` started (with its children: uvicorn
    workers, PostgreSQL backends), this bench, and the whole machine (every process)."""
    out: dict[str, float] = {}
    for pid_file in sorted((STATE / "pids").glob("*.pid")):
        try:
            root = psutil.Process(int(pid_file.read_text().strip()))
            tree = [root, *root.children(recursive=True)]
        except (ValueError, psutil.Error):
            continue
        total = 0.0
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        out[pid_file.stem] = total
    own = psutil.Process().cpu_times()
    out["bench"] = own.user + own.system
    machine = psutil.cpu_times()
    out["machine"] = (
        machine.user
        + machine.system
        + machine.nice
        + getattr(machine, "irq", 0.0)
        + (getattr(machine, "softirq", 0.0))
    )
    return out


def cpu_report(
    before: dict[str, float],
    at_end: dict[str, float],
    drained: dict[str, float],
    seconds: float,
    events: int,
) -> None:
    """CPU during the load (share of a core) and until every lag was 0 (per event: the whole
    work of the load; x rate = cores that rate needs)."""
    print(
        f"  CPU seconds: during the load ({seconds:.1f} s, {psutil.cpu_count()} cores) | "
        f"from its start until every lag was 0, per event (µs):"
    )
    ours = ours_total = 0.0
    for name in sorted(at_end):
        if name == "machine":
            continue
        used = at_end[name] - before.get(name, at_end[name])
        total = drained.get(name, at_end[name]) - before.get(name, at_end[name])
        ours, ours_total = ours + used, ours_total + total
        print(
            f"    {name:12} {used:7.1f} s ({used / seconds * 100:4.0f} % of a core) | "
            f"{total:7.1f} s  {total / max(events, 1) * 1e6:7.0f} µs/event"
        )
    machine = at_end["machine"] - before["machine"]
    machine_total = drained["machine"] - before["machine"]
    print(
        f"    {'other procs':12} {machine - ours:7.1f} s (the rest of the machine)      | "
        f"{machine_total - ours_total:7.1f} s"
    )


def scrape(port: int) -> dict[str, dict[str, float]]:
    """Per group: batches, batch seconds and records consumed so far (Prometheus text)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    pattern = re.compile(
        r"^(clm_consumer_batch_duration_seconds_(?:sum|count)|clm_events_consumed_total)"
        r"\{([^}]*)\} (\S+)$",
        re.M,
    )
    for name, labels, value in pattern.findall(text):
        group = re.search(r'group="([^"]*)"', labels)
        if group is None:
            continue
        slot = out.setdefault(group.group(1), {"batches": 0.0, "seconds": 0.0, "records": 0.0})
        key = (
            "batches"
            if name.endswith("_count")
            else "seconds"
            if name.endswith("_sum")
            else "records"
        )
        slot[key] += float(value)
    return out


def scrape_all() -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {}
    for port in SERVICE_PORTS.values():
        merged.update(scrape(port))
    return merged


async def ensure_model(key: str, fit: bool) -> bool:
    """True when scoring has a current model (it publishes scores only then); with `fit`, fits
    one on the purchases stored so far if there is none (`clm fit`)."""
    base = f"http://127.0.0.1:{SERVICE_PORTS['scoring']}/v1/models"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        async with session.get(f"{base}/current") as resp:
            if resp.status == 200:
                return True
        if not fit:
            return False
        body = {"as_of": datetime.now(UTC).isoformat(), "time_unit": "week"}
        async with session.post(f"{base}/fit", json=body) as resp:
            if resp.status != 201:
                print(f"  no model could be fitted: {resp.status} {(await resp.text())[:300]}")
            return resp.status == 201


# The consumers' dedup owners (processed_events.consumer) whose transactions a probe joins.
DEDUP_OWNERS = {"lifecycle": "lifecycle", "scoring": "scoring"}


async def transaction_times(database_url: str | None, probes: Iterable[Probe]) -> str:
    """Fills each probe's lifecycle and scoring transaction start (processed_at = now()) and
    commit (pg_xact_commit_timestamp of the row, when the server tracks commit timestamps)
    from the dedup rows their batches wrote; returns what could be read."""
    wanted = {p.event_id: p for p in probes if p.event_id}
    if not database_url or not wanted:
        return "no database URL"
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tracked = await conn.fetchval("SHOW track_commit_timestamp") == "on"
        committed = "pg_xact_commit_timestamp(xmin)" if tracked else "NULL::timestamptz"
        rows = await conn.fetch(
            f"SELECT consumer, event_id, processed_at, {committed} AS committed "
            "FROM processed_events WHERE consumer = ANY($1::text[]) AND event_id = ANY($2::text[])",
            list(DEDUP_OWNERS.values()),
            list(wanted),
        )
    finally:
        await conn.close()
    for row in rows:
        probe = wanted[row["event_id"]]
        began = row["processed_at"].timestamp()
        done = row["committed"].timestamp() if row["committed"] is not None else None
        if row["consumer"] == DEDUP_OWNERS["lifecycle"]:
            probe.lifecycle_began, probe.lifecycle_committed = began, done
        else:
            probe.scoring_began, probe.scoring_committed = began, done
    return "transaction start and commit" if tracked else "transaction start only"


def start_stack() -> None:
    """`make run`'s services, with the CLM_* ports in force (kept running afterwards)."""
    subprocess.run([sys.executable, str(ROOT / "deploy" / "local" / "stack.py"), "up"], check=True)


def new_probe(run: str, n: int) -> Probe:
    return Probe(f"lat-{run}-{n}")


async def offer(
    ingest: str,
    key: str,
    rate: float,
    seconds: float,
    batch: int,
    clients: int,
    customers: int,
    probes: dict[bytes, Probe],
    run: str,
) -> tuple[float, float, int]:
    """Posts on schedule; returns (start, last 202, events accepted)."""
    batches = max(1, round(rate * seconds / batch))
    interval = batch / rate
    accepted = 0
    returning = [f"lat-{run}-r{i}" for i in range(customers)]
    counter = iter(range(batches))
    started = time.perf_counter()
    wall_start = time.time()
    last = wall_start

    def body(k: int) -> tuple[bytes, Probe]:
        probe = new_probe(run, k)
        probes[probe.customer_id.encode()] = probe
        now = datetime.now(UTC)
        events = [purchase(probe.customer_id, now, amount="42.00")]
        probe.event_id = events[0]["event_id"]
        for i in range(batch - 1):
            who = returning[(k * (batch - 1) + i) % customers]
            events.append(contact(who, now) if i % 10 == 9 else purchase(who, now))
        return orjson.dumps({"events": events}), probe

    async def client() -> None:
        nonlocal accepted, last
        async with aiohttp.ClientSession(
            base_url=ingest,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as session:
            for k in counter:
                delay = started + k * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the offered load, not synchronisation
                data, probe = body(k)
                async with session.post("/v1/events/batch", data=data) as resp:
                    stamp = time.time()
                    if resp.status != 202:
                        raise RuntimeError(f"ingest refused: {resp.status} {await resp.text()}")
                    await resp.read()
                probe.accepted = stamp
                accepted += batch
                last = max(last, stamp)

    await asyncio.gather(*(client() for _ in range(clients)))
    return wall_start, last, accepted


def quantiles(values: Iterable[float]) -> str:
    data = sorted(v * 1000 for v in values)
    if not data:
        return "no samples"
    if len(data) == 1:
        return f"n=1 {data[0]:.0f} ms"
    q = statistics.quantiles(data, n=100, method="inclusive")
    return f"p50 {q[49]:7.0f}  p95 {q[94]:7.0f}  p99 {q[98]:7.0f} ms  (n={len(data)})"


def report(title: str, probes: list[Probe]) -> dict[str, str]:
    def span(a: str, b: str) -> list[float]:
        out = []
        for p in probes:
            x, y = getattr(p, a), getattr(p, b)
            if x is not None and y is not None:
                out.append(y - x)
        return out

    rows = {
        "202 -> lifecycle change": span("accepted", "change_seen"),
        "202 -> score": span("accepted", "score_seen"),
        "  ingest produce (event ts -> 202)": span("event_ts", "accepted"),
        "  visible to a reader (202 -> read)": span("accepted", "event_seen"),
        "  lifecycle batch + relay wait (202 -> change ts)": span("accepted", "change_ts"),
        "    fetch + queue (202 -> lifecycle tx start)": span("accepted", "lifecycle_began"),
        "    lifecycle tx (start -> commit)": span("lifecycle_began", "lifecycle_committed"),
        "    relay (commit -> change ts)": span("lifecycle_committed", "change_ts"),
        "  relay -> reader (change ts -> read)": span("change_ts", "change_seen"),
        "  scoring batch + relay wait (202 -> score ts)": span("accepted", "score_ts"),
        "    fetch + queue (202 -> scoring tx start)": span("accepted", "scoring_began"),
        "    scoring tx (start -> commit)": span("scoring_began", "scoring_committed"),
        "    relay (commit -> score ts)": span("scoring_committed", "score_ts"),
        "  relay -> reader (score ts -> read)": span("score_ts", "score_seen"),
    }
    missing_change = sum(1 for p in probes if p.accepted and p.change_seen is None)
    missing_score = sum(1 for p in probes if p.accepted and p.score_seen is None)
    print(f"\n{title}")
    out = {}
    for name, values in rows.items():
        out[name.strip()] = quantiles(values)
        print(f"  {name:50} {out[name.strip()]}")
    if missing_change or missing_score:
        print(f"  probes never seen: {missing_change} changes, {missing_score} scores")
    return out


def batch_report(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> None:
    print("  consumer batches during the run (services' /metrics):")
    for group in sorted(after):
        a, b = after[group], before.get(group, {"batches": 0, "seconds": 0, "records": 0})
        n = a["batches"] - b["batches"]
        if n <= 0:
            continue
        records = a["records"] - b["records"]
        seconds = a["seconds"] - b["seconds"]
        print(
            f"    {group:28} {n:6.0f} batches  {records / n:8.1f} records/batch  "
            f"{seconds / n * 1000:8.1f} ms/batch  busy {seconds:6.1f} s"
        )


async def wait_drained(
    lag: Lag, readers: Readers, since: float, timeout_s: float
) -> tuple[dict[str, int], dict[str, float | None], float | None]:
    """Lag at `since` (the load's end) and when each group, then all, reached 0."""
    first = await lag.lags(readers)
    zero: dict[str, float | None] = {g: (0.0 if v == 0 else None) for g, v in first.items()}
    everyone: float | None = 0.0 if not any(first.values()) else None
    deadline = time.monotonic() + timeout_s
    while everyone is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # sampling the groups' progress, not synchronisation
        current = await lag.lags(readers)
        now = time.time() - since
        for g, v in current.items():
            if v == 0 and zero.get(g) is None:
                zero[g] = now
        if not any(current.values()):
            everyone = now
    return first, zero, everyone


async def main() -> int:
    env = _stack_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--customers", type=int, default=10_000, help="returning customers")
    parser.add_argument("--baseline-rate", type=float, default=5)
    parser.add_argument("--baseline-seconds", type=float, default=20)
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument(
        "--ingest", default=f"http://127.0.0.1:{os.environ.get('CLM_INGEST_PORT', '8001')}"
    )
    parser.add_argument("--api-key", default=_default_key())
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        or env.get("KAFKA_BOOTSTRAP_SERVERS")
        or f"127.0.0.1:{os.environ.get('CLM_KAFKA_PORT', '9092')}",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or env.get("DATABASE_URL"),
        help="where the consumers' dedup rows are (the per-stage transaction times)",
    )
    parser.add_argument(
        "--groups", nargs="+", default=SERVICE_GROUPS, help="the consumer groups whose lag counts"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--start-stack", action="store_true", help="run `stack.py up` first (as `make run`)"
    )
    parser.add_argument(
        "--fit", action="store_true", help="fit a scoring model first if there is none"
    )
    args = parser.parse_args()
    if args.start_stack:
        start_stack()
        env = _stack_env()
        args.api_key = args.api_key or _default_key()
        args.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or env["KAFKA_BOOTSTRAP_SERVERS"]
    if not args.api_key:
        raise SystemExit("no API key: start the stack (make run) or pass --api-key")
    run = secrets.token_hex(3)
    probes: dict[bytes, Probe] = {}
    readers = Readers(probes)
    consumer = await start_readers(args.bootstrap)
    stop = asyncio.Event()
    reading = asyncio.create_task(readers.run(consumer, stop))
    lag = Lag(args.bootstrap, args.groups)
    await lag.start()
    figures: dict[str, Any] = {"run": run, "groups": lag.groups}
    try:
        print(
            f"pipeline latency, run {run}: baseline {args.baseline_rate:g} events/s for "
            f"{args.baseline_seconds:g} s, then {args.rate:g} events/s for {args.seconds:g} s "
            f"(batches of {args.batch}, {args.clients} clients); groups: {', '.join(lag.groups)}",
            flush=True,
        )
        if not await ensure_model(args.api_key, args.fit):
            print("  WARNING: scoring has no model, so it publishes no scores (`clm fit`)")
        idle_deadline = time.monotonic() + args.drain_timeout
        while any((backlog := await lag.backlog(consumer)).values()):
            if time.monotonic() > idle_deadline:
                raise SystemExit(f"the stack is not idle: {backlog}")
            await asyncio.sleep(0.5)  # waiting for an idle stack, with a deadline
        print("  stack idle: every group at the log end", flush=True)
        base_metrics = scrape_all()
        await offer(
            args.ingest, args.api_key, args.baseline_rate, args.baseline_seconds, 1, 1, 1,
            probes, f"{run}b",
        )  # fmt: skip
        await wait_drained(lag, readers, time.time(), 30)
        base_metrics_after = scrape_all()
        cpu_before = stack_cpu()
        base = {k: p for k, p in probes.items() if p.customer_id.startswith(f"lat-{run}b-")}
        if args.seconds <= 0:  # the baseline alone
            print(f"  per stage: {await transaction_times(args.database_url, base.values())}")
            figures["baseline"] = report(
                f"baseline: {args.baseline_rate:g} events/s, one probe per batch",
                list(base.values()),
            )
            batch_report(base_metrics, base_metrics_after)
            if args.json:
                args.json.write_text(json.dumps(figures, indent=2))
            return 0
        before = scrape_all()
        # Probes join the readers' map as their batches are built (`probes` is shared).
        loading = asyncio.create_task(
            offer(
                args.ingest, args.api_key, args.rate, args.seconds, args.batch, args.clients,
                args.customers, probes, run,
            )
        )  # fmt: skip
        started, ended, accepted = await loading
        cpu_at_end = stack_cpu()
        first, zero, everyone = await wait_drained(lag, readers, ended, args.drain_timeout)
        cpu_drained = stack_cpu()
        after = scrape_all()
        load = {k: p for k, p in probes.items() if p.customer_id.startswith(f"lat-{run}-")}
        # The last probes' records may still be on their way when the groups reach 0.
        for _ in range(100):  # polling for them, for at most 10 s
            if all(p.change_seen and p.score_seen for p in load.values()):
                break
            await asyncio.sleep(0.1)
        offered = accepted / max(ended - started, 1e-9)
        print(f"  per stage: {await transaction_times(args.database_url, probes.values())}")
        figures["baseline"] = report(
            f"baseline: {args.baseline_rate:g} events/s, one probe per batch", list(base.values())
        )
        batch_report(base_metrics, base_metrics_after)
        figures["load"] = report(
            f"load: {accepted:,} events accepted in {ended - started:.1f} s "
            f"({offered:,.0f} events/s; offered {args.rate:g}/s)",
            list(load.values()),
        )
        batch_report(before, after)
        cpu_report(cpu_before, cpu_at_end, cpu_drained, ended - started, accepted)
        print("  lag at the load's end (records) -> seconds until 0:")
        for g in lag.groups:
            at = zero.get(g)
            print(
                f"    {g:28} {first.get(g, 0):8d} -> {'not within timeout' if at is None else f'{at:.1f} s'}"
            )
        print(
            "  every group's lag 0: "
            + ("not within timeout" if everyone is None else f"{everyone:.1f} s after the load")
        )
        p99 = figures["load"]["202 -> lifecycle change"]
        print(f"  target: p99 <= 250 ms, every group's lag 0 within 5 s (lifecycle: {p99})")
        figures["lag_at_end"], figures["lag_zero_after_s"] = first, zero
        figures["all_zero_after_s"], figures["events_per_s"] = everyone, offered
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        stop.set()
        await reading
        await consumer.stop()
        await lag.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
