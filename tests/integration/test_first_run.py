"""A first run delivers (issue 18, item 8): `stack.py up` starts the local mail/SMS/webhook sink
and points notify at it; a first purchase's welcome email arrives there, rendered with an HTML
part and RFC 8058 one-click unsubscribe headers whose URL really opts the customer out; the
dashboard counts retrying messages; `clm messages` shows what arrived. The sink itself is checked
with notify's own channel adapters over real SMTP and HTTP.
"""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notify.adapters.channels import DeliveryError, Outgoing
from services.notify.adapters.sms import HttpSms
from services.notify.adapters.smtp import SmtpEmail
from services.notify.adapters.webhook import SignedWebhook
from shared.topics import CUSTOMER_EVENTS, CUSTOMER_SCORES, LIFECYCLE_CHANGES
from tests.integration.test_notify import MIDDAY
from tests.support.factories import new_customer, profile, purchase
from tests.support.infra import Infrastructure
from tests.support.polling import eventually
from tests.support.services import ROOT, free_port

SECRET = "whsec-sink-" + uuid.uuid4().hex
NAMES = ("ingest", "lifecycle", "scoring", "notify", "dashboard", "audiences")


def _outgoing(channel: str, to: str, body: str = "Hello there") -> Outgoing:
    return Outgoing(
        message_id=str(uuid.uuid4()), customer_id="cust-sink", channel=channel, to=to,
        subject="Welcome", body=body, locale="en", playbook="new_customer", step="welcome",
    )  # fmt: skip


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[dict[str, Any]]:
    smtp_port, http_port = free_port(), free_port()
    env = {**os.environ, "CLM_NOTIFY_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.sink", "--smtp-port", str(smtp_port),
         "--http-port", str(http_port), "--state", str(tmp_path / "sink")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{http_port}"
    try:
        yield {"smtp_port": smtp_port, "http_port": http_port, "url": url, "state": tmp_path}
    finally:
        proc.terminate()
        proc.wait(10)


async def _sink_items(url: str, **params: Any) -> list[dict[str, Any]]:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            resp = await client.get(f"{url}/messages", params=params)
    except httpx.TransportError:
        return []
    return list(resp.json()["items"]) if resp.status_code == 200 else []


async def test_the_sink_keeps_emails_sms_and_signed_tasks_and_refuses_forged_tasks(
    sink: dict[str, Any],
) -> None:
    await eventually(
        lambda: _ready(sink["url"]), timeout=30, what="the sink to listen"
    )  # its HTTP side answers once both listeners are up
    email = SmtpEmail(
        host="127.0.0.1", port=sink["smtp_port"], sender="care@clm.example",
        unsubscribe_url=lambda c: f"http://notify.example/v1/unsubscribe/{c}",
    )  # fmt: skip
    sms = HttpSms(base_url=sink["url"], token="t", sender_id="CLM", timeout=5)
    task = SignedWebhook(url=f"{sink['url']}/tasks", secret=SECRET, timeout=5)
    forged = SignedWebhook(url=f"{sink['url']}/tasks", secret="not-the-secret", timeout=5)
    try:
        await email.send(_outgoing("email", "ann@example.com", "Hi Ann,\n\nWelcome."))
        await sms.send(_outgoing("sms", "+8613800000000"))
        await task.send(_outgoing("webhook", "staff"))
        with pytest.raises(DeliveryError) as refused:
            await forged.send(_outgoing("webhook", "staff"))
        assert not refused.value.transient and "HTTP 400" in refused.value.response
    finally:
        for adapter in (email, sms, task, forged):
            await adapter.close()

    [mail] = await _sink_items(sink["url"], kind="email")
    assert mail["to"] == "ann@example.com"
    assert mail["content_type"] == "multipart/alternative"
    assert "Welcome." in mail["text"] and "<p>Welcome.</p>" in mail["html"]
    assert mail["headers"]["List-Unsubscribe"] == "<http://notify.example/v1/unsubscribe/cust-sink>"
    [text] = await _sink_items(sink["url"], kind="sms")
    assert text["to"] == "+8613800000000" and "Hello there" in text["text"]
    [signed] = await _sink_items(sink["url"], kind="task")
    assert signed["signature_valid"] is True and signed["payload"]["customer_id"] == "cust-sink"
    lines = (sink["state"] / "sink" / "messages.jsonl").read_text().splitlines()
    assert len(lines) == 3  # kept on disk, the forged task not among them

    async with httpx.AsyncClient(timeout=5) as http:
        page = await http.get(sink["url"] + "/")
    assert page.status_code == 200 and "ann@example.com" in page.text
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "clm_cli.main", "messages", "--json", "--kind", "email"],
        cwd=ROOT, env={**os.environ, "CLM_SINK_HTTP_PORT": str(sink["http_port"])},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert [m["to"] for m in json.loads(cli.stdout)] == ["ann@example.com"]


async def _ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{url}/messages")).status_code == 200
    except httpx.TransportError:
        return False


async def _groups_at_end(bootstrap: str, groups: dict[str, list[str]]) -> None:
    """New groups would read the shared test topics' whole history; this run wants what's new."""
    for group, topics in groups.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            cluster = await consumer._client.fetch_all_metadata()
            tps = [
                TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()
            ]
            consumer.assign(tps)
            await consumer.commit(dict(await consumer.end_offsets(tps)))
        finally:
            await consumer.stop()


@pytest.fixture
async def first_run_env(infra: Infrastructure, tmp_path: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    groups = {
        "lifecycle": f"clm-lifecycle-first-{tag}",
        "notify": f"clm-notify-first-{tag}",
        "scoring": f"clm-scoring-first-{tag}",
    }
    await _groups_at_end(
        infra.kafka_bootstrap,
        {
            groups["lifecycle"]: [CUSTOMER_EVENTS],
            groups["scoring"]: [CUSTOMER_EVENTS],
            f"{groups['notify']}-lifecycle": [LIFECYCLE_CHANGES],
            f"{groups['notify']}-events": [CUSTOMER_EVENTS],
            f"{groups['notify']}-scores": [CUSTOMER_SCORES],
        },
    )
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CLM_LIFECYCLE_", "CLM_NOTIFY_", "CLM_DASHBOARD_"))
        },
        "CLM_STATE_DIR": str(tmp_path / "state"),
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "DATABASE_URL": infra.database_url,
        "CLM_INGEST_WORKERS": "1",
        "CLM_SINK_SMTP_PORT": str(free_port()),
        "CLM_SINK_HTTP_PORT": str(free_port()),
        "CLM_LIFECYCLE_CONSUMER_GROUP": groups["lifecycle"],
        "CLM_SCORING_CONSUMER_GROUP": groups["scoring"],
        "CLM_NOTIFY_CONSUMER_GROUP": groups["notify"],
        **{f"CLM_{name.upper()}_PORT": str(free_port()) for name in NAMES},
    }


def _stack(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "deploy/local/stack.py", command],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"stack.py {command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def test_a_first_run_delivers_to_the_sink_and_unsubscribe_really_opts_out(
    first_run_env: dict[str, str],
) -> None:
    env = first_run_env
    url = {name: f"http://127.0.0.1:{env[f'CLM_{name.upper()}_PORT']}" for name in NAMES}
    sink = f"http://127.0.0.1:{env['CLM_SINK_HTTP_PORT']}"
    try:
        started = _stack("up", env)
        assert f"{sink}/" in started, started
        key = started.split("development API key (every scope): ")[1].split()[0]
        auth = {"Authorization": f"Bearer {key}"}
        customer = new_customer("first")
        address = f"{customer}@example.com"
        async with httpx.AsyncClient(headers=auth, timeout=30) as http:
            for event in (
                profile(customer, name="Ann", email=address, locale="en", timezone=MIDDAY),
                purchase(customer),
            ):
                resp = await http.post(f"{url['ingest']}/v1/events", json=event)
                assert resp.status_code == 202, resp.text

            async def welcome() -> dict[str, Any] | None:
                found = await _sink_items(sink, kind="email", to=address)
                return found[0] if found else None

            mail = await eventually(welcome, timeout=90, interval=0.5, what="the welcome email")
            assert mail["subject"] == "Welcome, Ann!"
            assert mail["html"] and mail["text"]
            assert mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            link = mail["headers"]["List-Unsubscribe"].strip("<>")
            assert link.startswith(f"{url['notify']}/v1/unsubscribe/")
            assert link in mail["text"]

            confirm = await http.get(link, headers={"Authorization": ""})
            assert confirm.status_code == 200 and "<form" in confirm.text  # GET changes nothing
            prefs = await http.get(f"{url['notify']}/v1/customers/{customer}/preferences")
            assert prefs.json()["effective"]["email"] is True
            # What a mailbox provider sends for one-click (RFC 8058 section 3.2); no API key.
            done = await http.post(
                link, content="List-Unsubscribe=One-Click", headers={
                    "Authorization": "", "Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
            assert done.status_code == 200, done.text
            prefs = await http.get(f"{url['notify']}/v1/customers/{customer}/preferences")
            assert prefs.json()["effective"]["email"] is False
            assert prefs.json()["preferences"]["email"] is False
            forged = await http.post(link[:-4] + "0000", headers={"Authorization": ""})
            assert forged.status_code == 400
            assert forged.headers["content-type"] == "application/problem+json"

            # The dashboard (its own service) reaches lifecycle and notify on the ports this
            # stack was started with; lifecycle's old dashboard paths redirect to it.
            summary = (await http.get(f"{url['dashboard']}/v1/dashboard/summary")).json()
            messages = summary["messages"]
            assert messages["available"] is True, messages
            assert messages["sent"] >= 1 and "retrying" in messages
            assert summary["stages"]["available"] is True, summary["stages"]
            for path in ("/dashboard", "/v1/dashboard/summary"):
                moved = await http.get(f"{url['lifecycle']}{path}")
                assert moved.status_code == 307, (path, moved.status_code)
                assert moved.headers["location"] == f"{url['dashboard']}{path}"
        cli = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "clm_cli.main", "messages", "--to", address],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert "Welcome, Ann!" in cli.stdout and "List-Unsubscribe" in cli.stdout
    finally:
        _stack("down", env)
