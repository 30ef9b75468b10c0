"""The dashboard's "Playbook impact" panel in headless Chromium shows what notify's
GET /v1/playbooks/{name}/impact answers (real dashboard, lifecycle and notify processes,
PostgreSQL)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from services.notify.adapters import store
from services.notify.settings import DEFAULT_PLAYBOOKS
from shared.db import make_engine
from tests.integration import test_dashboard
from tests.integration.test_dashboard import ARTIFACTS, NOTIFY_READ_ONLY
from tests.support.infra import Infrastructure
from tests.support.services import ServiceProcess

# the dashboard tests' headless Chromium, as fixtures of this module too
chromium, browser = test_dashboard.chromium, test_dashboard.browser
PLAYBOOK = f"dash_{uuid.uuid4().hex[:8]}"  # this test's rows only
TREATED, HELD_OUT = 6, 4
BUYERS = {"treated": ("25.00", "35.00", "40.00"), "held_out": ("30.00",)}


@pytest.fixture(scope="module")
def playbooks(tmp_path_factory: pytest.TempPathFactory) -> str:
    raw = yaml.safe_load(DEFAULT_PLAYBOOKS.read_text())
    raw["playbooks"].append(
        {
            "name": PLAYBOOK,
            "trigger": {"kind": "event", "event": f"{PLAYBOOK}.probe"},
            "control_group": 0.4,
            "steps": [{"name": "offer", "channel": "email", "template": "care_message"}],
        }
    )
    path = tmp_path_factory.mktemp("dash-impact") / "playbooks.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _message(i: int, held_out: bool, at: datetime) -> dict[str, Any]:
    customer = f"dash-imp-{PLAYBOOK}-{i}"
    status, reason = ("suppressed", "control_group") if held_out else ("sent", "delivered")
    return {
        "id": str(uuid.uuid4()),
        "playbook": PLAYBOOK,
        "step": "offer",
        "repeat": 0,
        "customer_id": customer,
        "occurrence_id": f"occ-{i}",
        "trigger_kind": "event",
        "trigger_at": at,
        "channel": "email",
        "template": "care_message",
        "status": status,
        "reason": reason,
        "due_at": at,
        "cancel_on": [],
        "coupon": None,
        "context": {},
        "history": [],
        "created_at": at,
    }


@pytest.fixture(scope="module")
async def seeded(infra: Infrastructure) -> None:
    """Decisions and outcomes as notify's intake stores them (its own store functions)."""
    at = datetime.now(UTC) - timedelta(days=1)
    rows = [_message(i, False, at) for i in range(TREATED)]
    rows += [_message(TREATED + i, True, at) for i in range(HELD_OUT)]
    bought = list(zip(rows[:TREATED], BUYERS["treated"], strict=False))
    bought += list(zip(rows[TREATED:], BUYERS["held_out"], strict=False))
    outcomes = [
        {
            "event_id": f"{PLAYBOOK}-p-{n}",
            "customer_id": row["customer_id"],
            "kind": "purchase",
            "occurred_at": at + timedelta(hours=2),
            "amount": Decimal(amount),
            "currency": "CNY",
        }
        for n, (row, amount) in enumerate(bought)
    ]
    engine = make_engine(infra.database_url, 1)
    try:
        async with engine.begin() as conn:
            await store.insert_messages(conn, rows)
            await store.insert_outcomes(conn, outcomes)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def stack(start_service: Callable[..., ServiceProcess], playbooks: str) -> dict[str, Any]:
    slow = 180  # start-up deadline on a shared 2-core machine
    notify = start_service(
        "notify", ready_within=slow, CLM_NOTIFY_PLAYBOOKS_PATH=playbooks, **NOTIFY_READ_ONLY
    )
    lifecycle = start_service(
        "lifecycle",
        ready_within=slow,
        CLM_LIFECYCLE_RUN_CONSUMER="false",
        CLM_LIFECYCLE_RUN_SCHEDULER="false",
    )
    dashboard = start_service(
        "dashboard",
        ready_within=slow,
        CLM_DASHBOARD_LIFECYCLE_URL=lifecycle.url,
        CLM_DASHBOARD_NOTIFY_URL=notify.url,
    )
    return {"dashboard": dashboard, "notify": notify}


@pytest.mark.timeout(1200)  # a first-time apt-get install of chromium can take minutes
async def test_the_impact_panel_shows_what_notify_measures(
    seeded: None, stack: dict[str, Any], admin_key: str, browser: webdriver.Chrome
) -> None:
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=stack["notify"].url, headers=headers) as notify:
        resp = await notify.get(f"/v1/playbooks/{PLAYBOOK}/impact")
    assert resp.status_code == 200, resp.text
    api = resp.json()["overall"]
    assert api["arms"]["treatment"]["eligible"] == TREATED
    assert api["arms"]["control"]["eligible"] == HELD_OUT
    uplift = api["difference"]["purchase"]["estimate"]
    assert uplift == pytest.approx(3 / 6 - 1 / 4)

    browser.get(f"{stack['dashboard'].url}/dashboard#key={admin_key}")
    WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") in {"ready", "error"}
    )
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "ready"
    row = browser.find_element(By.ID, f"impact-{PLAYBOOK}")
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:5] == [PLAYBOOK, str(TREATED), str(HELD_OUT), "50 %", "25 %"]
    assert cells[5].startswith("25 pp [")
    shown = row.find_elements(By.TAG_NAME, "td")[5].get_attribute("data-value")
    assert float(shown or "nan") == pytest.approx(uplift)
    per_message = api["incremental_revenue_per_message"]  # (100/6 - 30/4) x 6 / 6 sent
    assert per_message == pytest.approx(100 / 6 - 30 / 4)
    assert cells[6] == f"{per_message:,.2f}"
    assert "CNY" in browser.find_element(By.ID, "impact-currency").text

    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard-impact.png"))
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, f"console errors: {severe}"
