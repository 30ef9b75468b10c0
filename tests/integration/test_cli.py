"""The `clm` CLI as an operator runs it (a subprocess), against the real broker and services."""

import asyncio
import os
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import create_async_engine

from services.lifecycle.adapters.tables import customers
from services.lifecycle.domain import CustomerFacts
from shared.erasure import pseudonym
from shared.kafka_admin import ensure_topics
from shared.topics import CUSTOMER_EVENTS, REDRIVE_FOR_HEADER, TopicSpec, dlq_of
from tests.support.infra import Infrastructure
from tests.support.lifecycle_rows import bought_once_row
from tests.support.services import ServiceProcess, free_port
from tests.support.topics import TopicTail

ROOT = Path(__file__).resolve().parents[2]
SEED = 9001  # fixed: reruns post the same event ids, which the platform deduplicates


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def cli_env(infra: Infrastructure, admin_key: str) -> dict[str, str]:
    nowhere = f"http://127.0.0.1:{free_port()}"
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "CLM_API_KEY": admin_key,
        "CLM_INGEST_URL": nowhere,
        "CLM_LIFECYCLE_URL": nowhere,
        "CLM_SCORING_URL": nowhere,
        "CLM_NOTIFY_URL": nowhere,
        "COLUMNS": "250",
    }


async def clm(env: dict[str, str], *args: str, timeout: float = 90.0) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clm_cli.main", *args,
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_seed_posts_demo_customers_through_ingest_onto_the_event_topic(
    infra: Infrastructure, start_service: Callable[..., ServiceProcess], cli_env: dict[str, str]
) -> None:
    ingest = start_service("ingest")
    env = {**cli_env, "CLM_INGEST_URL": ingest.url}
    prefix = f"demo{SEED}-".encode()
    async with TopicTail(infra.kafka_bootstrap, CUSTOMER_EVENTS) as tail:
        run = await clm(env, "seed", "--customers", "200", "--days", "365", "--seed", str(SEED),
                        "--batch", "250")  # fmt: skip
        assert run.code == 0, run.stderr
        posted = int(run.stdout.split("Posted ", 1)[1].split(" events", 1)[0].replace(",", ""))
        assert posted > 200  # every customer has a profile, most have purchases and contacts
        records = await tail.collect(
            lambda r: (r.key or b"").startswith(prefix), until=lambda kept: len(kept) >= posted
        )
    customers = {r.key for r in records}
    assert len(customers) == 200
    types = {dict(r.headers)["ce_type"].decode() for r in records}
    assert types == {f"clm.customer.{t}" for t in ("purchase", "contact", "complaint", "profile")}


@pytest.fixture(scope="module")
async def poison_topic(infra: Infrastructure) -> str:
    """A topic pair of its own, so redrive moves only what this test put there."""
    topic = f"clm.cli-test-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(
        infra.kafka_bootstrap, 2, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})]
    )
    return topic


async def _put_poison(bootstrap: str, topic: str, key: str, group: str = "clm-lifecycle") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            dlq_of(topic), value=b'{"amount": "not money"', key=key.encode(),
            headers=[
                ("ce_id", key.encode()), ("ce_type", b"clm.customer.purchase"),
                ("dlq_error", b"JSONDecodeError: unexpected end of data"),
                ("dlq_group", group.encode()), ("dlq_origin", f"{topic}/0/41".encode()),
            ],
        )  # fmt: skip
    finally:
        await producer.stop()


async def _records_in(bootstrap: str, topic: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        cluster = await reader._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
        return sum((await reader.end_offsets(tps)).values())
    finally:
        await reader.stop()


async def test_dlq_list_show_and_redrive_a_poison_record(
    infra: Infrastructure, cli_env: dict[str, str], poison_topic: str
) -> None:
    key = f"poison-{uuid.uuid4().hex[:8]}"
    await _put_poison(infra.kafka_bootstrap, poison_topic, key)

    listed = await clm(cli_env, "dlq", "list", "--topic", poison_topic)
    assert listed.code == 0, listed.stderr
    assert key in listed.stdout and "JSONDecodeError" in listed.stdout
    line = next(row for row in listed.stdout.splitlines() if key in row)
    ref = line.strip("│ ").split()[0]  # PARTITION:OFFSET

    shown = await clm(cli_env, "dlq", "show", ref, "--topic", poison_topic)
    assert shown.code == 0, shown.stderr
    assert f"{poison_topic}/0/41" in shown.stdout and "not money" in shown.stdout

    dry = await clm(cli_env, "dlq", "redrive", "--topic", poison_topic, "--dry-run")
    assert dry.code == 0, dry.stderr
    assert "Would redrive 1 records" in dry.stdout

    async with TopicTail(infra.kafka_bootstrap, poison_topic) as tail:
        done = await clm(cli_env, "dlq", "redrive", "--topic", poison_topic)
        assert done.code == 0, done.stderr
        assert f"Redrove 1 records (1 to {poison_topic})" in done.stdout
        [record] = await tail.collect(lambda r: r.key == key.encode(), until=lambda k: len(k) >= 1)
    headers = dict(record.headers)
    assert headers["ce_id"] == key.encode()
    assert not {h for h in headers if h.startswith("dlq_")}

    again = await clm(cli_env, "dlq", "redrive", "--topic", poison_topic)
    assert again.code == 0, again.stderr
    assert "Nothing to redrive" in again.stdout


async def test_a_record_three_groups_dead_lettered_is_redriven_once_for_those_groups(
    infra: Infrastructure, cli_env: dict[str, str]
) -> None:
    topic = f"clm.cli-test-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(
        infra.kafka_bootstrap, 2, [TopicSpec(topic, {}), TopicSpec(dlq_of(topic), {})]
    )
    key = f"poison-{uuid.uuid4().hex[:8]}"
    groups = ("clm-scoring", "clm-lifecycle", "clm-notify-events")
    for group in groups:
        await _put_poison(infra.kafka_bootstrap, topic, key, group)

    listed = await clm(cli_env, "dlq", "list", "--topic", topic)
    assert listed.code == 0, listed.stderr
    rows = [row for row in listed.stdout.splitlines() if key in row]
    assert len(rows) == 3  # why each failed: its group, origin and error
    for group in groups:
        assert any(group in row and f"{topic}/0/41" in row and "JSONDecodeError" in row
                   for row in rows)  # fmt: skip

    async with TopicTail(infra.kafka_bootstrap, topic) as tail:
        done = await clm(cli_env, "dlq", "redrive", "--topic", topic)
        assert done.code == 0, done.stderr
        assert "Redrove 1 records" in done.stdout and "from 3 dead-lettered copies" in done.stdout
        [record] = await tail.collect(lambda r: r.key == key.encode(), until=lambda k: len(k) >= 1)
    more = await clm(cli_env, "dlq", "redrive", "--topic", topic)
    assert "Nothing to redrive" in more.stdout
    assert await _records_in(infra.kafka_bootstrap, topic) == 1  # the topic is this test's own
    headers = dict(record.headers)
    assert headers[REDRIVE_FOR_HEADER] == b"clm-lifecycle,clm-notify-events,clm-scoring"
    assert not {h for h in headers if h.startswith("dlq_")}


async def test_dlq_show_of_a_missing_offset_is_one_sentence(
    cli_env: dict[str, str], poison_topic: str
) -> None:
    run = await clm(cli_env, "dlq", "show", "0:999999", "--topic", poison_topic)
    assert run.code == 1
    assert (
        run.stderr.strip()
        == f"error: There is no record at offset 999999 in partition 0 of {dlq_of(poison_topic)}."
    )


@pytest.fixture(scope="module")
def idle_lifecycle(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    """Answers HTTP from the shared tables without consuming or re-evaluating anything."""
    return start_service(
        "lifecycle", CLM_LIFECYCLE_RUN_CONSUMER="false", CLM_LIFECYCLE_RUN_SCHEDULER="false"
    )


async def test_customer_show_for_an_unknown_id_is_one_sentence(
    idle_lifecycle: ServiceProcess, cli_env: dict[str, str]
) -> None:
    lifecycle = idle_lifecycle
    env = {**cli_env, "CLM_LIFECYCLE_URL": lifecycle.url}
    customer = f"nobody-{uuid.uuid4().hex[:8]}"
    run = await clm(env, "customer", "show", customer)
    assert run.code == 1
    assert run.stderr.strip() == f"error: No service knows a customer with id '{customer}'."
    assert "Traceback" not in run.stderr


async def stored_stage(infra: Infrastructure, customer_id: str) -> str | None:
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            query = sa.select(customers.c.stage).where(customers.c.customer_id == customer_id)
            return await conn.scalar(query)
    finally:
        await engine.dispose()


async def test_replay_dry_run_reports_stage_changes_and_changes_nothing(
    infra: Infrastructure, cli_env: dict[str, str]
) -> None:
    # Stored as it stood in 2000 (in development after one purchase); never due, so no
    # running scheduler moves it: re-derived now, its facts say churn.
    customer = f"dry-{uuid.uuid4().hex[:8]}"
    row = bought_once_row(customer, datetime(2000, 3, 1, tzinfo=UTC))
    # What erasure with CLM_LIFECYCLE_ERASURE_KEEP_AGGREGATES leaves: state, no facts.
    anon = pseudonym("test-secret", customer)
    empty_facts = orjson.dumps(CustomerFacts(anon).to_json()).decode()
    aggregate = {**row, "customer_id": anon, "facts": empty_facts}
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(customers).values([row, aggregate]))
        run = await clm(cli_env, "replay", "lifecycle", "--dry-run")
        assert run.code == 0, run.stderr
        assert "customers would change stage on replay; nothing was changed." in run.stdout
        assert "facts the rules cannot use" not in run.stdout
        assert re.search(r"development\W+churn\W+\d", run.stdout), run.stdout
        # The aggregate is dropped by a replay, not re-derived from its (erased) facts.
        assert "anonymous aggregates of erased customers would be dropped" in run.stdout
        assert not re.search(r"development\W+acquisition", run.stdout), run.stdout
        assert await stored_stage(infra, customer) == "development"
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                sa.delete(customers).where(customers.c.customer_id.in_([customer, anon]))
            )
        await engine.dispose()


async def test_replay_refuses_while_lifecycle_answers(
    idle_lifecycle: ServiceProcess, cli_env: dict[str, str]
) -> None:
    run = await clm(
        {**cli_env, "CLM_LIFECYCLE_URL": idle_lifecycle.url}, "replay", "lifecycle", "--yes"
    )
    assert run.code == 1
    assert run.stderr.startswith("error: Stop the lifecycle service first")
