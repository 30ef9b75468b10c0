"""`clm rates`: load and list the exchange rates to the reporting currency (ingest's API)."""

import csv
from pathlib import Path
from typing import Any

import httpx
import orjson

from clm_cli.errors import CliError
from clm_cli.service_calls import client, refused, unreachable
from clm_cli.settings import CliSettings

DEMO_RATES = Path(__file__).with_name("demo_exchange_rates.json")


def read_rates_file(path: Path) -> dict[str, Any]:
    """The PUT /v1/exchange-rates body from a JSON file (that body itself) or a CSV file
    with the columns currency,date,rate."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror}.") from exc
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        missing = {"currency", "date", "rate"} - set(rows[0] if rows else {})
        if missing:
            raise CliError(f"{path} needs the columns currency,date,rate (missing {missing}).")
        return {
            "rates": [{k: row[k].strip() for k in ("currency", "date", "rate")} for row in rows]
        }
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict) or not isinstance(body.get("rates"), list):
        raise CliError(f'{path} must hold {{"rates": [{{"currency", "date", "rate"}}, ...]}}.')
    return body


async def put_rates(settings: CliSettings, body: dict[str, Any]) -> dict[str, Any]:
    try:
        async with client(settings, "ingest") as http:
            resp = await http.put("/v1/exchange-rates", json=body)
    except httpx.TransportError as exc:
        raise unreachable("ingest", settings, exc) from exc
    if resp.status_code != 200:
        raise refused("ingest", resp)
    answer: dict[str, Any] = resp.json()
    return answer


async def list_rates(settings: CliSettings, currency: str | None) -> dict[str, Any]:
    try:
        async with client(settings, "ingest") as http:
            params = {"currency": currency} if currency else None
            resp = await http.get("/v1/exchange-rates", params=params)
    except httpx.TransportError as exc:
        raise unreachable("ingest", settings, exc) from exc
    if resp.status_code != 200:
        raise refused("ingest", resp)
    answer: dict[str, Any] = resp.json()
    return answer
