"""`clm`: operate the platform without reading its code."""

import asyncio
import functools
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import quote

import httpx
import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from clm_cli import stack_control
from clm_cli.errors import CliError
from clm_cli.service_calls import client, refused, unreachable
from clm_cli.settings import CliSettings

# Heavy modules (numpy, scipy, SQLAlchemy, aiokafka) are imported by the commands that need
# them, so that `clm --help` and `clm status` start fast.
CUSTOMER_EVENTS = "clm.customer-events.v1"

app = typer.Typer(
    name="clm",
    help="Operate the customer lifecycle platform: the local stack, demo data, models, DLQs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
dlq_app = typer.Typer(help="Dead-lettered records: list, show, redrive.", no_args_is_help=True)
customer_app = typer.Typer(help="One customer across every service.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(customer_app, name="customer")
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
rates_app = typer.Typer(
    help="Exchange rates to the reporting currency: load, list.", no_args_is_help=True
)
app.add_typer(rates_app, name="rates")

console = Console()
errors = Console(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("clm")
        except PackageNotFoundError:  # run from a checkout that was never installed
            found = "unknown (not installed)"
        typer.echo(f"clm {found}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Operate the customer lifecycle platform: the local stack, demo data, models, DLQs."""


# The broker client logs each failed connection attempt; the CLI reports the failure itself.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
P = ParamSpec("P")
R = TypeVar("R")


def expected_failures(command: Callable[P, R]) -> Callable[P, R]:
    """An expected failure prints one sentence and exits non-zero; bugs keep their traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            errors.print(f"[bold red]error:[/] {exc.sentence}", soft_wrap=True, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            errors.print("Interrupted.")
            raise typer.Exit(130) from None

    return run


def _settings() -> CliSettings:
    return CliSettings()


def _progress(*, bar: bool = True) -> Progress:
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if bar:
        columns += [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    else:
        columns += [TimeElapsedColumn()]
    return Progress(*columns, console=console, transient=False)


# ------------------------------------------------------------------ the local stack


@app.command()
@expected_failures
def up() -> None:
    """Start Kafka, PostgreSQL, migrations and the four services (like `make run`)."""
    from deploy.local import stack

    with console.status("Starting the local stack (Kafka, PostgreSQL, services)..."):
        stack_control.run_launcher(stack.cmd_up, "Starting the stack")
    console.print("[green]The stack is up.[/] `clm status` shows it; `clm seed` loads demo data.")


@app.command()
@expected_failures
def down() -> None:
    """Stop everything the local stack started (by pid)."""
    from deploy.local import stack

    with console.status("Stopping the local stack..."):
        stack_control.run_launcher(stack.cmd_down, "Stopping the stack")
    console.print("[green]The stack is stopped.[/]")


@app.command()
@expected_failures
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Each component's pid, port and health, and the consumer lag of each service group.
    Exits 1 when any component is down or the lag cannot be read (Kafka unreachable)."""
    from clm_cli import kafka_ops

    settings = _settings()
    with console.status("Probing components..."):
        found = stack_control.components(settings)
    groups = {g: t for gs in kafka_ops.STACK_GROUPS.values() for g, t in gs.items()}
    lag_error: str | None = None
    lags: dict[str, list[kafka_ops.GroupLag]] = {}
    try:
        with console.status("Reading consumer offsets..."):
            lags = asyncio.run(kafka_ops.consumer_lag(settings.kafka_bootstrap_servers, groups))
    except CliError as exc:
        lag_error = exc.sentence
    healthy = all(c.healthy for c in found) and lag_error is None
    if as_json:
        report = {
            "healthy": healthy,
            "components": [
                {"name": c.name, "pid": c.pid, "port": c.port, "health": c.health,
                 "healthy": c.healthy}
                for c in found
            ],
            "consumer_lag": [
                {"group": r.group, "topic": r.topic, "partitions": r.partitions,
                 "committed": r.committed, "end": r.end, "lag": r.lag,
                 "never_committed_partitions": r.never_committed}
                for rows in lags.values() for r in rows
            ],
            "consumer_lag_error": lag_error,
        }  # fmt: skip
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
        raise typer.Exit(0 if healthy else 1)
    table = Table(title="components")
    for column in ("component", "pid", "port", "health"):
        table.add_column(column)
    for c in found:
        style = "green" if c.healthy else "red"
        table.add_row(c.name, str(c.pid or "-"), str(c.port), f"[{style}]{c.health}[/]")
    console.print(table)
    if lag_error is not None:
        console.print(f"[red]consumer lag unknown:[/] {lag_error}", soft_wrap=True)
        raise typer.Exit(1)
    lag_table = Table(title="consumer lag (to the last record holding data)")
    for column in ("group", "topic", "partitions", "committed", "end", "lag"):
        numeric = column in ("partitions", "committed", "end", "lag")
        lag_table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for group in groups:
        for row in lags.get(group, []):
            style = "green" if row.lag == 0 else "yellow"
            note = f" ({row.never_committed} never committed)" if row.never_committed else ""
            lag_table.add_row(
                group, row.topic, str(row.partitions), f"{row.committed:,}", f"{row.end:,}",
                f"[{style}]{row.lag:,}[/]{note}",
            )  # fmt: skip
    console.print(lag_table)
    if not healthy:
        raise typer.Exit(1)


@app.command()
@expected_failures
def messages(
    kind: Annotated[
        str | None, typer.Option(help="email, sms or task; every kind when left out.")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Only those to this address or customer.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """What the local sink received from notify (emails, SMS, signed tasks), newest first."""
    settings = _settings()
    params: dict[str, Any] = {"limit": limit} | {k: v for k, v in (("kind", kind), ("to", to)) if v}
    try:
        resp = httpx.get(f"{settings.sink_url}/messages", params=params, timeout=10)
    except httpx.TransportError as exc:
        raise CliError(
            f"The local sink at {settings.sink_url} is not reachable ({type(exc).__name__}); "
            "`make run` starts it."
        ) from exc
    if resp.status_code != 200:
        raise CliError(f"The sink answered HTTP {resp.status_code}: {resp.text[:200]}")
    items = resp.json()["items"]
    if as_json:
        sys.stdout.write(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not items:
        console.print("Nothing delivered to the sink yet.")
        return
    for item in items:
        console.rule(f"{item['kind']} to {item.get('to')}  ({item['received_at']})")
        if item.get("subject"):
            console.print(f"[bold]{item['subject']}[/]", highlight=False)
        for name, value in (item.get("headers") or {}).items():
            if name.startswith("List-Unsubscribe"):
                console.print(f"{name}: {value}", highlight=False, soft_wrap=True)
        if item.get("html"):
            console.print("[dim](HTML part present)[/]")
        console.print(str(item.get("text") or ""), highlight=False, soft_wrap=True)
    console.print(f"\nThe page: {settings.sink_url}/")


# ------------------------------------------------------------------ demo data


async def _lifecycle_customers(settings: CliSettings) -> int:
    try:
        async with client(settings, "lifecycle", timeout=10) as http:
            resp = await http.get("/v1/stats/stages")
    except httpx.TransportError as exc:
        raise unreachable("lifecycle", settings, exc) from exc
    if resp.status_code != 200:
        raise refused("lifecycle", resp)
    return int(sum(resp.json().values()))


def _demo_choice() -> bool | None:
    """CLM_SEED_DEMO decides when set; without a terminal the answer is no; else ask (None)."""
    choice = os.environ.get("CLM_SEED_DEMO", "").strip().lower()
    if choice in ("1", "true", "yes"):
        return True
    if choice in ("0", "false", "no"):
        return False
    if not sys.stdin.isatty():
        console.print("No terminal to ask on: demo data not loaded (CLM_SEED_DEMO=1 loads it).")
        return False
    return None


@app.command()
@expected_failures
def seed(
    customers: Annotated[int, typer.Option(min=1, help="How many customers.")] = 10_000,
    days: Annotated[int, typer.Option(min=1, help="Span of past time, ending now.")] = 730,
    seed: Annotated[int, typer.Option("--seed", help="RNG seed (same seed, same ids).")] = 42,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Events per POST.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, max=16, help="Batches in flight.")] = 4,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when lifecycle already has customers.")
    ] = False,
    ask: Annotated[
        bool, typer.Option("--ask", help="Ask first (CLM_SEED_DEMO=1 skips the question).")
    ] = False,
) -> None:
    """Generate demo customers and POST their events through the ingest API."""
    from clm_cli.demo_data import demo_events
    from clm_cli.posting import post_batches

    settings = _settings()
    choice = _demo_choice() if ask else True
    if choice is False:
        return
    if if_empty:
        known = asyncio.run(_lifecycle_customers(settings))
        if known:
            console.print(f"Lifecycle already holds {known:,} customers; demo data not loaded.")
            return
    if choice is None and not typer.confirm(
        f"Load demo data ({customers:,} customers)?", default=True
    ):
        return
    # Events in other currencies than the reporting one are refused without rates.
    from clm_cli.rates import DEMO_RATES, put_rates, read_rates_file

    loaded = asyncio.run(put_rates(settings, read_rates_file(DEMO_RATES)))
    console.print(
        f"Loaded the demo exchange rates ({len(loaded['rates'])} rates to "
        f"{loaded['reporting_currency']})."
    )
    with console.status(f"Generating {customers:,} customers over {days} days..."):
        events = demo_events(customers, days, seed, datetime.now(UTC))
    started = time.monotonic()
    with _progress() as progress:
        task = progress.add_task("Posting events to ingest", total=len(events))
        duplicates = asyncio.run(
            post_batches(
                settings, events, batch, concurrency=concurrency,
                on_posted=lambda n: progress.advance(task, n),
            )
        )  # fmt: skip
    kinds = Counter(e["type"] for e in events)
    summary = ", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common())
    console.print(
        f"[green]Posted {len(events):,} events[/] for {customers:,} customers in "
        f"{time.monotonic() - started:.1f}s ({summary}).",
        soft_wrap=True,
    )
    if duplicates:
        console.print(f"{duplicates:,} of them were already known to ingest (same seed as before).")


# ------------------------------------------------------------------ exchange rates


@rates_app.command("load")
@expected_failures
def rates_load(
    file: Annotated[
        str,
        typer.Argument(help="JSON (the PUT /v1/exchange-rates body) or CSV currency,date,rate."),
    ],
) -> None:
    """Load (add or correct) dated exchange rates to the reporting currency."""
    from pathlib import Path

    from clm_cli.rates import put_rates, read_rates_file

    body = read_rates_file(Path(file))
    answer = asyncio.run(put_rates(_settings(), body))
    console.print(
        f"[green]Loaded {len(body['rates'])} rates[/] to {answer['reporting_currency']}; "
        f"{len(answer['rates'])} stored for those currencies."
    )


@rates_app.command("list")
@expected_failures
def rates_list(
    currency: Annotated[str | None, typer.Option(help="Only this currency.")] = None,
) -> None:
    """The loaded exchange rates: reporting-currency units per unit, from each date on."""
    from clm_cli.rates import list_rates

    answer = asyncio.run(list_rates(_settings(), currency))
    table = Table(title=f"exchange rates to {answer['reporting_currency']}")
    for column in ("currency", "from", "rate"):
        table.add_column(column)
    for rate in answer["rates"]:
        table.add_row(rate["currency"], rate["date"], rate["rate"])
    console.print(table)


# ------------------------------------------------------------------ models


def _moment(raw: str | None) -> datetime:
    if raw is None:
        return datetime.now(UTC)
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise CliError(f"'{raw}' is not a time; use e.g. 2026-03-01T00:00:00+08:00.") from exc
    if moment.utcoffset() is None:
        raise CliError(f"'{raw}' has no UTC offset; use e.g. 2026-03-01T00:00:00+08:00.")
    return moment


@app.command()
@expected_failures
def fit(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Purchases up to this time (default: now).")
    ] = None,
    time_unit: Annotated[str, typer.Option(help="day, week or month.")] = "week",
) -> None:
    """Refit the scoring models (BG/NBD, Gamma-Gamma) and make them current."""
    if time_unit not in ("day", "week", "month"):
        raise CliError(f"--time-unit must be day, week or month, not '{time_unit}'.")
    settings = _settings()
    body = {"as_of": _moment(as_of).isoformat(), "time_unit": time_unit}

    async def call() -> httpx.Response:
        try:
            async with client(settings, "scoring", timeout=600) as http:
                return await http.post("/v1/models/fit", json=body)
        except httpx.TransportError as exc:
            raise unreachable("scoring", settings, exc) from exc

    with console.status(f"Fitting the population models as of {body['as_of']}..."):
        resp = asyncio.run(call())
    if resp.status_code not in (200, 201):
        raise refused("scoring", resp)
    model = resp.json()
    table = Table(
        title=f"model {model['model_id']} (as of {model['as_of']}, per {model['time_unit']})"
    )
    for column in ("model", "parameter", "value"):
        table.add_column(column)
    for name in ("r", "alpha", "a", "b", "log_likelihood", "n_customers"):
        table.add_row("BG/NBD", name, _number(model["bgnbd"].get(name)))
    for name in ("p", "q", "gamma", "log_likelihood", "n_customers"):
        table.add_row("Gamma-Gamma", name, _number(model["gamma_gamma"].get(name)))
    console.print(table)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------ dead letters

TopicOption = Annotated[str, typer.Option("--topic", help="The original topic (or its .dlq twin).")]


@dlq_app.command("list")
@expected_failures
def dlq_list(
    topic: TopicOption = CUSTOMER_EVENTS,
    limit: Annotated[int, typer.Option(min=1, help="Newest records to show.")] = 20,
) -> None:
    """The newest dead-lettered records of a topic."""
    from clm_cli import dlq

    settings, name = _settings(), dlq.dlq_topic(topic)
    with console.status(f"Reading {name}..."):
        records = asyncio.run(dlq.latest(settings.kafka_bootstrap_servers, name, limit))
    if not records:
        console.print(f"No dead-lettered records on {name}.")
        return
    table = Table(title=f"{name} (newest {len(records)})")
    for column in ("offset", "time", "key", "type", "group", "origin", "error"):
        table.add_column(column, overflow="fold")
    for d in records:
        table.add_row(
            d.ref, d.timestamp.strftime("%Y-%m-%d %H:%M:%S"), d.key.decode(errors="replace"),
            d.header("ce_type"), d.header("dlq_group"), d.header("dlq_origin"),
            d.header("dlq_error")[:120],
        )  # fmt: skip
    console.print(table)
    console.print("[dim]`clm dlq show PARTITION:OFFSET` shows one record in full.[/]")


@dlq_app.command("show")
@expected_failures
def dlq_show(
    offset: Annotated[str, typer.Argument(help="OFFSET or PARTITION:OFFSET.")],
    topic: TopicOption = CUSTOMER_EVENTS,
    partition: Annotated[int | None, typer.Option("--partition", "-p")] = None,
) -> None:
    """One dead-lettered record: headers, error and value."""
    from clm_cli import dlq

    settings, name = _settings(), dlq.dlq_topic(topic)
    wanted_partition, wanted_offset = dlq.parse_ref(offset, partition)
    record = asyncio.run(
        dlq.find(settings.kafka_bootstrap_servers, name, wanted_partition, wanted_offset)
    )
    table = Table.grid(padding=(0, 2))
    table.add_column(style="cyan")
    table.add_column(overflow="fold")
    table.add_row("record", f"{name} partition {record.partition} offset {record.offset}")
    table.add_row("time", record.timestamp.isoformat())
    table.add_row("key", record.key.decode(errors="replace"))
    for key, value in record.headers:
        table.add_row(key, value.decode(errors="replace"))
    console.print(table)
    try:
        console.print_json(orjson.dumps(orjson.loads(record.value)).decode())
    except orjson.JSONDecodeError:
        console.print(record.value.decode(errors="replace"), highlight=False, markup=False)


@dlq_app.command("redrive")
@expected_failures
def dlq_redrive(
    topic: TopicOption = CUSTOMER_EVENTS,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
) -> None:
    """Re-publish dead-lettered records to their original topic: each original once, for the
    consumer groups that dead-lettered it only (header clm_redrive_for; other groups skip it)."""
    from clm_cli import dlq

    settings, name = _settings(), dlq.dlq_topic(topic)
    with _progress() as progress:
        task = progress.add_task(f"Redriving {name}", total=None)
        plan = asyncio.run(
            dlq.redrive(
                settings.kafka_bootstrap_servers, name, dry_run=dry_run,
                on_planned=lambda n: progress.update(task, total=n),
                on_published=lambda n: progress.advance(task, n),
            )
        )  # fmt: skip
    if not plan:
        console.print(f"Nothing to redrive on {name}: every record was redriven already.")
        return
    targets = Counter(r.letter.origin_topic for r in plan)
    where = ", ".join(f"{n} to {t}" for t, n in targets.items())
    copies = sum(r.copies for r in plan)
    if copies != len(plan):  # several groups dead-lettered the same original
        where += f"; from {copies} dead-lettered copies"
    if dry_run:
        console.print(f"Would redrive {len(plan)} records ({where}); nothing was published.")
        for r in plan[:50]:
            d = r.letter
            line = (
                f"  {d.ref:>7}  {d.key.decode(errors='replace'):<24}  "
                f"for {','.join(r.groups) or 'every group'}  {d.header('dlq_error')}"
            )
            console.print(line, no_wrap=True, overflow="ellipsis", markup=False, highlight=False)
    else:
        console.print(f"[green]Redrove {len(plan)} records[/] ({where}).")


# ------------------------------------------------------------------ customers


@customer_app.command("show")
@expected_failures
def customer_show(customer_id: Annotated[str, typer.Argument(help="The customer id.")]) -> None:
    """Lifecycle state and history, scores and messages of one customer."""
    from clm_cli import customer_view

    settings = _settings()
    replies = asyncio.run(customer_view.gather(settings, customer_id))
    customer_view.check_known(replies, customer_id, settings)
    console.print(customer_view.render(customer_id, replies))


@app.command("erase")
@expected_failures
def erase_command(
    customer_id: Annotated[str, typer.Argument(help="The customer id to erase.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data in every service (GDPR); this cannot be undone."""
    settings = _settings()
    if not yes and not typer.confirm(
        f"Erase every personal datum of customer '{customer_id}' in all services, for good?"
    ):
        raise CliError("Erasure cancelled; nothing was changed.")

    async def call() -> httpx.Response:
        try:
            async with client(settings, "lifecycle") as http:
                return await http.delete(f"/v1/customers/{quote(customer_id, safe='')}")
        except httpx.TransportError as exc:
            raise unreachable("lifecycle", settings, exc) from exc

    with console.status(f"Erasing customer {customer_id}..."):
        resp = asyncio.run(call())
    if resp.status_code == 404:
        raise CliError(f"No service holds data of customer '{customer_id}'; nothing was erased.")
    if resp.status_code == 503:
        raise CliError(
            f"Customer '{customer_id}' is erased, but its tombstone is not yet on Kafka; "
            "run the same command again."
        )
    if resp.status_code not in (200, 204):
        raise refused("lifecycle", resp)
    console.print(
        f"[green]Erased customer {customer_id}[/] in lifecycle; the tombstone is on "
        "clm.customer-state.v1, and scoring and notify erase their data when they read it. "
        "Later events for this id are ignored.",
        soft_wrap=True,
    )


# ------------------------------------------------------------------ replay


@app.command("replay")
@expected_failures
def replay_command(
    service: Annotated[str, typer.Argument(help="The service to rebuild (lifecycle).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report how many customers would change stage.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Rebuild a service's state from the event topic, from the beginning."""
    if service != "lifecycle":
        raise CliError(f"Replay supports the lifecycle service only, not '{service}'.")
    settings = _settings()
    if dry_run:
        _replay_forecast(settings)
        return
    running = stack_control.lifecycle_running(settings)
    if running:
        raise CliError(f"Stop the lifecycle service first ({running}); replay needs it stopped.")
    from clm_cli import replay

    if not yes and not typer.confirm(
        "Truncate the lifecycle tables and re-read clm.customer-events.v1 from the beginning?"
    ):
        raise CliError("Replay cancelled; nothing was changed.")
    with console.status("Truncating the lifecycle tables and rewinding clm-lifecycle..."):
        removed, partitions = asyncio.run(replay.replay(settings))
    console.print(
        f"[green]Removed {removed:,} customers and rewound clm-lifecycle on {partitions} "
        "partitions.[/] Start lifecycle (`clm up`) to rebuild its state from the events.",
        soft_wrap=True,
    )


def _replay_forecast(settings: CliSettings) -> None:
    from clm_cli import replay

    with _progress() as progress:
        task = progress.add_task("Re-deriving stored customers", total=None)
        result = asyncio.run(
            replay.forecast(
                settings,
                on_total=lambda n: progress.update(task, total=n),
                on_derived=lambda n: progress.advance(task, n),
            )
        )
    console.print(
        f"Dry run: {result.changing:,} of {result.customers:,} customers would change stage "
        "on replay; nothing was changed.",
        soft_wrap=True,
    )
    if result.unreadable:
        console.print(
            f"[yellow]{result.unreadable:,} customers have facts the rules cannot use.[/]"
        )
    if result.aggregates_dropped:
        console.print(
            f"{result.aggregates_dropped:,} anonymous aggregates of erased customers would be "
            "dropped (their facts were erased; nothing to re-derive).",
            soft_wrap=True,
        )
    if result.moves:
        table = Table(title="stage changes")
        for column in ("from", "to", "customers"):
            table.add_column(column)
        for (before, after), n in result.moves.most_common():
            table.add_row(before, after, f"{n:,}")
        console.print(table)


# ------------------------------------------------------------------ API keys


@keys_app.command("create")
@expected_failures
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key")],
    scope: Annotated[list[str] | None, typer.Option(help="A scope; repeat for several")] = None,
    all_scopes: Annotated[bool, typer.Option("--all-scopes", help="Every scope")] = False,
) -> None:
    """Create a key and print it (shown this once; only its digest is stored)."""
    from clm_cli.keys import with_database
    from shared.api_key_admin import create_key, valid_scopes
    from shared.auth import Scope

    scopes = [s.value for s in Scope] if all_scopes else list(scope or [])
    try:
        valid_scopes(scopes)
    except ValueError as exc:
        raise CliError(f"{str(exc).capitalize()}.", exit_code=2) from None
    key, info = with_database(_settings(), lambda engine: create_key(engine, name, scopes))
    errors.print(f"Created key {info.id} ({info.name}: {', '.join(info.scopes)}).")
    console.print(key, soft_wrap=True, highlight=False)


@keys_app.command("list")
@expected_failures
def keys_list() -> None:
    """Every key: id, name, scopes, created, revoked."""
    from clm_cli.keys import with_database
    from shared.api_key_admin import list_keys

    table = Table("id", "name", "scopes", "created", "revoked")
    for info in with_database(_settings(), list_keys):
        table.add_row(
            info.id, info.name, " ".join(info.scopes),
            f"{info.created_at:%Y-%m-%d %H:%M}" if info.created_at else "",
            f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "",
        )  # fmt: skip
    console.print(table)


@keys_app.command("revoke")
@expected_failures
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The id `clm keys list` shows")],
) -> None:
    """Revoke a key: every service refuses it within a second."""
    from clm_cli.keys import with_database
    from shared.api_key_admin import revoke_key

    info = with_database(_settings(), lambda engine: revoke_key(engine, key_id))
    if info is None:
        raise CliError(f"No API key has the id '{key_id}'; `clm keys list` shows them.")
    console.print(f"Revoked key {info.id} ({info.name}).")


if __name__ == "__main__":
    app()
