"""The operator dashboard in real headless Chromium (Debian's chromium + chromedriver, selenium)
against running lifecycle, scoring and notify processes."""

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.factories import complaint, new_customer, purchase
from tests.support.polling import eventually
from tests.support.services import ROOT, ServiceProcess, free_port

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "test-artifacts"
STAGES = ("acquisition", "development", "maintenance", "churn")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,1700",
)
# Only the HTTP API of notify is needed: nothing is consumed or sent by this instance.
NOTIFY_READ_ONLY = {
    "CLM_NOTIFY_RUN_CONSUMER": "false",
    "CLM_NOTIFY_RUN_SCORES_CONSUMER": "false",
    "CLM_NOTIFY_RUN_SENDER": "false",
    "CLM_NOTIFY_RUN_CALENDAR": "false",
}


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's chromium and chromedriver; installed with apt-get when missing and root."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing and cannot be installed here (needs root "
            "and apt-get): run `apt-get install -y chromium chromium-driver`."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
        ):
            subprocess.run(command, check=True, env=env, timeout=900, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        output = getattr(exc, "stderr", b"") or b""
        pytest.fail(
            f"installing chromium and chromium-driver with apt-get failed: {exc}\n"
            f"{output.decode(errors='replace')[-2000:]}"
        )
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} or {CHROMEDRIVER} is missing")


@pytest.fixture
def browser(chromium: None, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")  # new and empty
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def stack(start_service: Callable[..., ServiceProcess]) -> dict[str, Any]:
    """Scoring and notify; lifecycle, whose old dashboard paths redirect to the dashboard
    service; that dashboard, reading lifecycle, scoring and notify over HTTP; and a second
    dashboard whose lifecycle and notify are ports where nothing listens. Two at a time."""

    def try_notify() -> ServiceProcess | None:
        try:
            return start_service("notify", **NOTIFY_READ_ONLY)
        except (RuntimeError, TimeoutError):  # notify is optional: its panel says so
            return None

    nobody = f"http://127.0.0.1:{free_port()}"
    dashboard_port = free_port()  # lifecycle must know it before the dashboard starts
    with ThreadPoolExecutor(2) as pool:
        scoring_started = pool.submit(
            start_service, "scoring", CLM_SCORING_REFIT_INTERVAL_HOURS="0"
        )
        notify_started = pool.submit(try_notify)
        scoring, notify = scoring_started.result(), notify_started.result()
        lifecycle = start_service(
            "lifecycle",
            ready_within=180,
            CLM_LIFECYCLE_DASHBOARD_URL=f"http://127.0.0.1:{dashboard_port}",
        )
        # The dashboard's own entry point (services/dashboard/app.py), its own settings.
        dashboard = pool.submit(
            start_service,
            "dashboard",
            port=dashboard_port,
            ready_within=180,  # two at a time on a shared 2-core machine
            CLM_DASHBOARD_LIFECYCLE_URL=lifecycle.url,
            CLM_DASHBOARD_SCORING_URL=scoring.url,
            CLM_DASHBOARD_NOTIFY_URL=notify.url if notify else nobody,
        )
        cut_off = pool.submit(
            start_service,
            "dashboard",
            ready_within=180,
            CLM_DASHBOARD_LIFECYCLE_URL=nobody,
            CLM_DASHBOARD_SCORING_URL=scoring.url,
            CLM_DASHBOARD_NOTIFY_URL=nobody,
        )
        return {
            "lifecycle": lifecycle,
            "dashboard": dashboard.result(),
            "dashboard_cut_off": cut_off.result(),
            "scoring": scoring,
            "notify_url": notify.url if notify else None,
        }


@pytest.fixture
async def clients(
    stack: dict[str, Any], admin_key: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with (
        httpx.AsyncClient(base_url=stack["lifecycle"].url, headers=headers, timeout=60) as lc,
        httpx.AsyncClient(base_url=stack["scoring"].url, headers=headers, timeout=60) as sc,
    ):
        yield lc, sc


def _refresh_and_read(driver: webdriver.Chrome) -> dict[str, int]:
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.clmDashboard.refresh().then(() => done(true), (e) => done(String(e)));"
    )
    return {s: int(driver.find_element(By.ID, f"stage-count-{s}").text) for s in STAGES}


@dataclass(frozen=True)
class Reader:
    """What a test of the page uses: the stack, lifecycle's and ingest's clients, a key and
    the browser."""

    stack: dict[str, Any]
    lifecycle_api: httpx.AsyncClient
    ingest: httpx.AsyncClient
    admin_key: str
    browser: webdriver.Chrome


@pytest.fixture
def reader(
    stack: dict[str, Any],
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    ingest_client: httpx.AsyncClient,
    admin_key: str,
    browser: webdriver.Chrome,
) -> Reader:
    return Reader(stack, clients[0], ingest_client, admin_key, browser)


@pytest.mark.timeout(1200)  # a first-time apt-get install of chromium can take minutes
async def test_dashboard_shows_what_the_apis_return(
    reader: Reader, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    stack, lifecycle_api, ingest_client = reader.stack, reader.lifecycle_api, reader.ingest
    admin_key, browser, scoring_api = reader.admin_key, reader.browser, clients[1]
    now = datetime.now(UTC)
    buyers = [new_customer("dash") for _ in range(3)]
    events = [purchase(buyers[0], now - timedelta(days=2), amount="80.00")]
    events += [purchase(buyers[1], now - timedelta(days=d), amount="120.00") for d in (40, 20, 3)]
    events += [purchase(buyers[2], now - timedelta(days=9), amount="300.00")]
    events += [complaint(buyers[2], now - timedelta(days=1), ticket_id=f"t-{i}") for i in range(3)]
    posted = await ingest_client.post("/v1/events/batch", json={"events": events})
    assert posted.status_code == 202, posted.text

    async def everyone_known() -> bool:
        for customer in buyers:
            state = await lifecycle_api.get(f"/v1/customers/{customer}")
            scores = await scoring_api.get(f"/v1/customers/{customer}/scores")
            if state.status_code != 200 or scores.status_code != 200:
                return False
        return True

    await eventually(everyone_known, timeout=30, what="lifecycle and scoring to see the buyers")

    async with _client_of(stack["dashboard"], admin_key) as dashboard_api:
        body = await _summary(dashboard_api)
        anonymous = await dashboard_api.get("/v1/dashboard/summary", headers={"Authorization": ""})
    assert set(body) >= {"stages", "transitions", "at_risk", "clv", "model", "messages"}
    assert body["clv"]["available"] and body["model"]["available"], body
    assert body["messages"]["available"] is (stack["notify_url"] is not None), body["messages"]
    assert anonymous.status_code == 401

    # Users' old address: lifecycle redirects it to the dashboard service, key and all.
    browser.get(f"{stack['lifecycle'].url}/dashboard#key={admin_key}")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") in {"ready", "error"}
    )
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "ready"
    assert browser.current_url.startswith(f"{stack['dashboard'].url}/dashboard")
    assert "key=" not in browser.current_url  # the key left the address bar for sessionStorage

    async def page_matches_api() -> dict[str, int] | None:
        # Stages may move on their own (scheduler, other writers): compare within one window.
        before = (await lifecycle_api.get("/v1/stats/stages")).json()
        shown = _refresh_and_read(browser)
        after = (await lifecycle_api.get("/v1/stats/stages")).json()
        return shown if before == shown == after else None

    shown = await eventually(page_matches_api, timeout=30, what="stage counts to equal the API")
    assert sum(shown.values()) >= len(buyers)
    total = int(browser.find_element(By.ID, "stage-count-total").text)
    assert total == sum(shown.values())

    await _assert_tracking_panel(browser, scoring_api, body)

    for chart in ("funnel-chart", "transitions-chart"):  # plotly drew its SVG
        assert browser.find_elements(By.CSS_SELECTOR, f"#{chart} .main-svg"), chart
    messages_note = browser.find_element(By.ID, "messages-status").text
    if stack["notify_url"] is None:
        assert "notify unavailable" in messages_note
    else:
        assert browser.find_element(By.ID, "msg-sent").text.isdigit()

    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, f"console errors: {severe}"


async def _assert_tracking_panel(
    browser: webdriver.Chrome, scoring_api: httpx.AsyncClient, summary: dict[str, Any]
) -> None:
    """The predicted vs actual panel shows what GET /v1/models/current/tracking answers."""
    assert "predicted_vs_actual" in summary["model"]

    async def page_matches_api() -> dict[str, Any] | None:
        # A fit or a late purchase may land between reads: compare within one window.
        before = await scoring_api.get("/v1/models/current/tracking")
        _refresh_and_read(browser)
        shown = {
            name: browser.find_element(By.ID, f"tracking-{name}").get_attribute("data-value")
            for name in ("total-actual", "total-expected", "periods")
        }
        after = await scoring_api.get("/v1/models/current/tracking")
        if before.status_code != after.status_code or before.json() != after.json():
            return None
        return {"status": before.status_code, "api": before.json(), "shown": shown}

    seen = await eventually(page_matches_api, timeout=30, what="a stable tracking answer")
    api, shown = seen["api"], seen["shown"]
    if seen["status"] == 404:  # no model in this database yet: the panel says so
        assert api["type"].endswith("no-model")
        assert "No model" in browser.find_element(By.ID, "tracking-status").text
        assert shown == {"total-actual": "", "total-expected": "", "periods": ""}
        return
    assert seen["status"] == 200, api
    assert (
        int(shown["total-actual"])
        == api["total_actual"]
        == sum(api["actual"]) + api["omitted_actual"]
    )
    assert float(shown["total-expected"]) == pytest.approx(api["total_expected"], rel=1e-12)
    assert int(shown["periods"]) == api["n_periods"]
    assert browser.find_element(By.ID, "tracking-total-actual").text.replace(",", "") == str(
        api["total_actual"]
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#tracking-chart .main-svg")
    traces = browser.execute_script(
        "return document.getElementById('tracking-chart').data.map((t) => t.y.length);"
    )
    assert traces == [len(api["actual"])] * 2  # actual and predicted, one point per period
    toggle = browser.find_element(By.ID, "tracking-mode")
    toggle.click()
    assert toggle.get_attribute("data-mode") == "cumulative"
    last = browser.execute_script(
        "return document.getElementById('tracking-chart').data.map((t) => t.y[t.y.length - 1]);"
    )
    assert last[0] == api["total_actual"]
    assert last[1] == pytest.approx(api["total_expected"], rel=1e-12)
    toggle.click()


def _client_of(service: ServiceProcess, admin_key: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {admin_key}"}
    return httpx.AsyncClient(base_url=service.url, headers=headers, timeout=60)


async def _summary(client: httpx.AsyncClient) -> dict[str, Any]:
    summary = await client.get("/v1/dashboard/summary")
    assert summary.status_code == 200, summary.text
    body: dict[str, Any] = summary.json()
    return body


async def test_the_page_shows_lifecycles_figures_read_through_its_api(
    stack: dict[str, Any],
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    admin_key: str,
    browser: webdriver.Chrome,
) -> None:
    """Stage counts, the at-risk total and transitions come from GET /v1/reports/overview."""
    lifecycle_api, _ = clients

    async def summary_matches_overview() -> dict[str, Any] | None:
        # The scheduler may move a stage between reads: compare within one window.
        before = await lifecycle_api.get("/v1/reports/overview", params={"days": 30})
        assert before.status_code == 200, before.text
        async with _client_of(stack["dashboard"], admin_key) as dashboard_api:
            body = await _summary(dashboard_api)
        after = (await lifecycle_api.get("/v1/reports/overview", params={"days": 30})).json()
        if {**before.json(), "as_of": None} != {**after, "as_of": None}:  # as_of: read time
            return None
        return {"overview": after, "summary": body}

    seen = await eventually(summary_matches_overview, timeout=30, what="a stable overview")
    overview, summary = seen["overview"], seen["summary"]
    assert summary["stages"]["available"] is True
    assert {s: summary["stages"][s] for s in STAGES} == overview["stages"]
    assert summary["at_risk"]["total"] == overview["at_risk"]["customers"]
    assert summary["transitions"]["items"] == overview["transitions"]["items"]
    assert sum(overview["stages"].values()) == overview["customers"] > 0

    browser.get(f"{stack['dashboard'].url}/dashboard#key={admin_key}")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "ready"
    )

    async def page_matches_overview() -> dict[str, int] | None:
        before = (await lifecycle_api.get("/v1/reports/overview")).json()["stages"]
        shown = _refresh_and_read(browser)
        after = (await lifecycle_api.get("/v1/reports/overview")).json()["stages"]
        return shown if before == shown == after else None

    await eventually(page_matches_overview, timeout=30, what="the page to show the overview")


# Known customers, by the default rules (tier by spend over 365 days: A from 5,000,000, B from
# 1,000,000; churn 180 days after the last purchase, 90 after first being seen without one).
SEEDED_TIERS = {"A": "6000000.00", "B": "2000000.00", "C": "80.00"}


def _seed(now: datetime) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Customers of a known tier and customers of a known lifecycle pattern, and their events."""
    tiered = {new_customer(f"tier{t}"): t for t in SEEDED_TIERS}
    events = [
        purchase(c, now - timedelta(days=5), amount=SEEDED_TIERS[t]) for c, t in tiered.items()
    ]
    early_abort, midway = new_customer("abort"), new_customer("midway")
    events += [complaint(early_abort, now - timedelta(days=200), ticket_id="t-abort")]
    events += [purchase(midway, now - timedelta(days=300), amount="50.00")]
    return tiered, {early_abort: "early_abort", midway: "midway"}, events


def _data_value(driver: webdriver.Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).get_attribute("data-value") or "")


def _counts_shown(driver: webdriver.Chrome, prefix: str) -> dict[str, int]:
    """The counts the page shows in the elements whose id starts with `prefix`, by name."""
    found = driver.find_elements(By.CSS_SELECTOR, f"[id^='{prefix}']")
    ids = [str(e.get_attribute("id")) for e in found]
    return {i.removeprefix(prefix): int(_data_value(driver, i)) for i in ids}


async def test_the_page_shows_customers_per_tier_and_pattern_and_the_at_risk_share(
    reader: Reader,
) -> None:
    """The customer base panel: GET /v1/reports/overview's tiers, patterns and at-risk share,
    in the summary and on the page, counting the customers seeded here."""
    stack, lifecycle_api, ingest_client = reader.stack, reader.lifecycle_api, reader.ingest
    admin_key, browser = reader.admin_key, reader.browser
    tiered, patterned, events = _seed(datetime.now(UTC))
    posted = await ingest_client.post("/v1/events/batch", json={"events": events})
    assert posted.status_code == 202, posted.text

    async def seeded_as_expected() -> bool:
        for customer, tier in tiered.items():
            state = await lifecycle_api.get(f"/v1/customers/{customer}")
            if state.status_code != 200 or state.json()["tier"] != tier:
                return False
        for customer, pattern in patterned.items():
            state = await lifecycle_api.get(f"/v1/customers/{customer}")
            if state.status_code != 200 or state.json()["lifecycle_pattern"] != pattern:
                return False
        return True

    await eventually(seeded_as_expected, timeout=60, what="the seeded tiers and patterns")

    async def summary_matches_overview() -> dict[str, Any] | None:
        before = (await lifecycle_api.get("/v1/reports/overview")).json()
        async with _client_of(stack["dashboard"], admin_key) as dashboard_api:
            body = await _summary(dashboard_api)
        after = (await lifecycle_api.get("/v1/reports/overview")).json()
        if {**before, "as_of": None} != {**after, "as_of": None}:  # as_of: read time
            return None
        return {"overview": after, "summary": body}

    seen = await eventually(summary_matches_overview, timeout=30, what="a stable overview")
    overview, base = seen["overview"], seen["summary"]["customer_base"]
    assert base["available"] is True, base
    assert base["customers"] == overview["customers"]
    assert base["tiers"] == overview["tiers"]
    assert base["patterns"] == overview["patterns"]
    assert base["at_risk_customers"] == overview["at_risk"]["customers"]
    share = 100 * overview["at_risk"]["customers"] / overview["customers"]
    assert base["at_risk_share_percent"] == pytest.approx(share, rel=1e-12)
    for tier in SEEDED_TIERS:  # each seeded customer is counted in its tier
        assert base["tiers"][tier] >= list(tiered.values()).count(tier), (tier, base["tiers"])
    for pattern in patterned.values():
        assert base["patterns"][pattern] >= 1, (pattern, base["patterns"])

    browser.get(f"{stack['dashboard'].url}/dashboard#key={admin_key}")
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "ready"
    )

    async def page_matches_overview() -> dict[str, Any] | None:
        before = (await lifecycle_api.get("/v1/reports/overview")).json()
        _refresh_and_read(browser)
        shown = {
            "customers": int(_data_value(browser, "base-customers")),
            "tiers": _counts_shown(browser, "tier-count-"),
            "patterns": _counts_shown(browser, "pattern-count-"),
            "at_risk": int(_data_value(browser, "base-at-risk")),
            "share": _data_value(browser, "base-at-risk-share"),
        }
        after = (await lifecycle_api.get("/v1/reports/overview")).json()
        if {**before, "as_of": None} != {**after, "as_of": None}:
            return None
        return {"overview": after, "shown": shown}

    seen = await eventually(page_matches_overview, timeout=30, what="the page to show the overview")
    overview, shown = seen["overview"], seen["shown"]
    assert shown["customers"] == overview["customers"]
    assert shown["tiers"] == overview["tiers"]
    assert shown["patterns"] == overview["patterns"]
    assert shown["at_risk"] == overview["at_risk"]["customers"]
    share = 100 * overview["at_risk"]["customers"] / overview["customers"]
    assert float(shown["share"]) == pytest.approx(share, rel=1e-12)
    share_text = browser.find_element(By.ID, "base-at-risk-share").text
    assert share_text.endswith("%"), share_text
    notes = browser.find_element(By.ID, "customer-base").text
    assert "at-risk / customers" in notes and "customers" in notes
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard-customer-base.png"))
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, f"console errors: {severe}"


async def test_lifecycles_old_dashboard_paths_redirect_to_the_dashboard_service(
    stack: dict[str, Any], admin_key: str
) -> None:
    dashboard = stack["dashboard"].url
    async with _client_of(stack["lifecycle"], admin_key) as lifecycle_api:
        for path in ("/dashboard", "/dashboard/plotly.min.js", "/v1/dashboard/summary?days=7"):
            moved = await lifecycle_api.get(path)
            assert moved.status_code == 307, (path, moved.status_code, moved.text[:200])
            assert moved.headers["location"] == f"{dashboard}{path}"
        # The summary's old address still asks for a key before it says where to go.
        anonymous = await lifecycle_api.get("/v1/dashboard/summary", headers={"Authorization": ""})
        assert anonymous.status_code == 401
    async with _client_of(stack["dashboard"], admin_key) as dashboard_api:
        page = await dashboard_api.get("/dashboard")
        assert page.status_code == 200 and "clmDashboard" in page.text


async def test_a_dashboard_whose_lifecycle_and_notify_are_down_says_so(
    stack: dict[str, Any], admin_key: str
) -> None:
    async with _client_of(stack["dashboard_cut_off"], admin_key) as client:
        summary = await _summary(client)  # 200, not 500
        for section in ("stages", "transitions", "at_risk", "customer_base"):
            assert summary[section]["available"] is False, summary[section]
            assert summary[section]["detail"].startswith("lifecycle unavailable"), summary[section]
        messages = summary["messages"]
        assert messages["available"] is False
        assert messages["detail"].startswith("notify unavailable")
        assert summary["clv"]["available"] is True
        plotly = await client.get("/dashboard/plotly.min.js")
        assert plotly.status_code == 200 and b"plotly" in plotly.content[:200]
        anonymous = await client.get("/v1/dashboard/summary", headers={"Authorization": ""})
        assert anonymous.status_code == 401
