"""Ingest refuses, with 422 naming the field, what lifecycle, scoring and notify cannot hold:
control characters, dates outside 1970..now+skew, deep attributes, amounts that would
overflow sums, ids outside the grammar and over-long text; single events and batches alike."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.support.factories import new_customer, purchase


def _profile(customer: str, **data: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{new_customer('p')}",
        "type": "profile",
        "customer_id": customer,
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": data,
    }


DEEP = "@@nested-levels:"


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        node = {"n": node}
    return node


def _with(**fields: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {**purchase(new_customer()), **fields}


def _purchase_data(**data: Any) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        event = purchase(new_customer())
        event["data"] = {**event["data"], **data}
        return event

    return build


POISON: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "nul in customer_id": (_with(customer_id="cust\x00nul"), "customer_id"),
    "nul in event_id": (_with(event_id="evt\x00nul"), "event_id"),
    "bell in source": (_with(source="pos\x07"), "source"),
    "nul in order_id": (_purchase_data(order_id="o\x00"), "data.order_id"),
    "nul in profile name": (lambda: _profile(new_customer(), name="Ann\x00"), "data.name"),
    "nul in profile email": (
        lambda: _profile(new_customer(), email="a\x00@example.com"),
        "data.email",
    ),
    "year 0001": (_with(occurred_at="0001-01-01T00:00:00+00:00"), "occurred_at"),
    "year 9999": (_with(occurred_at="9999-12-31T23:59:59+00:00"), "occurred_at"),
    "before 1970": (_with(occurred_at="1969-12-31T23:59:59+00:00"), "occurred_at"),
    "in 2030": (_with(occurred_at="2030-01-01T00:00:00+00:00"), "occurred_at"),
    "two hours ahead": (
        lambda: purchase(new_customer(), at=datetime.now(UTC) + timedelta(hours=2)),
        "occurred_at",
    ),
    "attributes 9 deep": (
        lambda: _profile(new_customer(), attributes=_nested(9)),
        "data.attributes",
    ),
    "attributes 200 deep": (
        lambda: _profile(new_customer(), attributes=f"{DEEP}200"),
        "data.attributes",
    ),
    "attributes 300 deep": (
        lambda: _profile(new_customer(), attributes=f"{DEEP}300"),
        "data.attributes",
    ),
    "attributes 1000 deep": (
        lambda: _profile(new_customer(), attributes=f"{DEEP}1000"),
        "data.attributes",
    ),
    "nul in an attribute": (
        lambda: _profile(new_customer(), attributes={"k": ["v\x00"]}),
        "data.attributes",
    ),
    "long attribute text": (
        lambda: _profile(new_customer(), attributes={"k": "x" * 2049}),
        "data.attributes",
    ),
    "amount that overflows sums": (
        _purchase_data(amount="9999999999999999.9999"),
        "data.amount",
    ),
    "cost above the maximum": (_purchase_data(cost="1000000000000.0001"), "data.cost"),
    "customer id with a slash": (_with(customer_id="victim/history"), "customer_id"),
    "customer id with a script": (_with(customer_id="<script>x</script>"), "customer_id"),
    "customer id of 129 chars": (_with(customer_id="c" * 129), "customer_id"),
}


def _body(payload: Any) -> bytes:
    """JSON text, with each `DEEP<n>` marker replaced by an object nested n levels: the
    encoders stop far earlier (orjson at 255 levels), so that part is written as text."""

    def deep(match: re.Match[bytes]) -> bytes:
        levels = int(match.group(1))
        return b'{"n":' * (levels - 1) + b'{"leaf":1}' + b"}" * (levels - 1)

    return re.sub(rb'"' + DEEP.encode() + rb'(\d+)"', deep, orjson.dumps(payload))


@pytest.mark.parametrize("case", list(POISON))
async def test_a_poison_event_is_refused_with_422_naming_the_field(
    ingest_client: httpx.AsyncClient, case: str
) -> None:
    build, field = POISON[case]
    headers = {"content-type": "application/json"}
    single = await ingest_client.post("/v1/events", content=_body(build()), headers=headers)
    assert single.status_code == 422, single.text
    assert single.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in single.json()["errors"]], single.text

    good = purchase(new_customer())
    batch = await ingest_client.post(
        "/v1/events/batch", content=_body({"events": [good, build()]}), headers=headers
    )
    assert batch.status_code == 422, batch.text
    assert {"field": field, "index": 1} in [
        {"field": e["field"], "index": e["index"]} for e in batch.json()["errors"]
    ], batch.text


async def test_the_edges_of_the_limits_are_accepted(ingest_client: httpx.AsyncClient) -> None:
    edges = [
        purchase(new_customer(), amount="1000000000000.0000"),
        purchase(new_customer(), at="1970-01-01T00:00:00+00:00"),
        purchase(new_customer(), at=datetime.now(UTC) + timedelta(minutes=50)),
        _profile(new_customer(), name="Zoë Ōtsuka", attributes=_nested(8)),
        _profile(new_customer(), attributes={"k": "x" * 2048}),
        purchase("Cust_1.a:b@shop+eu-1"),
    ]
    resp = await ingest_client.post("/v1/events/batch", json={"events": edges})
    assert resp.status_code == 202, resp.text
