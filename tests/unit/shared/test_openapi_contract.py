"""Each service's OpenAPI document is a contract a generated client can rely on: the bearer
scheme, every problem response as the one `Problem` schema in application/problem+json, typed
success bodies, readable unique operation ids and an example of every event type."""

import importlib
import re
from typing import Any

import pytest
from fastapi import FastAPI

from services.ingest.examples import EVENT_EXAMPLES
from shared.auth import Scope
from shared.events import customer_event_adapter

SERVICES = ["ingest", "lifecycle", "scoring", "notify", "audiences"]
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPS_PATHS = {"/healthz", "/readyz", "/metrics"}
# An email's one-click unsubscribe link: its signed token is the authority, not an API key.
SIGNED_LINK_PATHS = {"/v1/unsubscribe/{token}"}
# Streamed exports: one record per line, typed by their media types, not one JSON body.
STREAMED = {"/v1/segments/{name}/export": {"application/x-ndjson", "text/csv"}}
# Routes under a customer id that answer for any id: an empty list, or the change they make.
ANY_ID = {
    ("get", "/v1/customers/{customer_id}/messages"),
    ("put", "/v1/customers/{customer_id}/preferences"),
}


def _spec(service: str) -> dict[str, Any]:
    app: FastAPI = importlib.import_module(f"services.{service}.app").app
    app.openapi_schema = None
    return app.openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, ops in spec["paths"].items() for m, op in ops.items()]


@pytest.mark.parametrize("service", SERVICES)
def test_the_bearer_scheme_guards_every_v1_operation(service: str) -> None:
    spec = _spec(service)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for path, method, op in _operations(spec):
        if path in OPS_PATHS | SIGNED_LINK_PATHS:
            assert "security" not in op
            continue
        [requirement] = op["security"]
        [scope] = requirement["bearerAuth"]  # OpenAPI 3.1: the role a bearer key needs
        assert scope in {s.value for s in Scope}, (method, path)
        for status in ("401", "403", "503"):
            assert op["responses"][status]["content"] == PROBLEM, (method, path, status)


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_response_is_the_problem_schema(service: str) -> None:
    spec = _spec(service)
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert {"type", "title", "status", "detail"} <= set(schemas["Problem"]["required"])
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                assert response["content"] == PROBLEM, (method, path, status)
        if "{" in path and (method, path) not in ANY_ID and path not in SIGNED_LINK_PATHS:
            assert "404" in op["responses"], (method, path)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in op["responses"], (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_success_body_is_typed(service: str) -> None:
    for path, method, op in _operations(_spec(service)):
        for status, response in op["responses"].items():
            if not status.startswith("2") or status == "204" or path == "/metrics":
                continue
            if path in SIGNED_LINK_PATHS:  # a page for a person, not a body for a client
                assert set(response["content"]) == {"text/html"}, path
                continue
            if path in STREAMED:
                assert set(response["content"]) == STREAMED[path], path
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema.get("$ref") or schema.get("type") in ("array", "object"), (
                method,
                path,
                schema,
            )
            if schema.get("type") == "object":  # a map must say what it maps to
                values = schema.get("additionalProperties")
                assert (isinstance(values, dict) and values) or schema.get("properties"), path


@pytest.mark.parametrize("service", SERVICES)
def test_operation_ids_are_unique_readable_and_not_generated_from_the_path(service: str) -> None:
    ids = [op["operationId"] for _, _, op in _operations(_spec(service))]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation_id)
        assert not re.search(r"_(get|post|put|delete|patch)$", operation_id), operation_id
        assert "_v1_" not in operation_id, operation_id


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_tag_and_a_summary(service: str) -> None:
    for path, method, op in _operations(_spec(service)):
        assert op.get("tags"), (method, path)
        assert op.get("summary"), (method, path)


def test_ingest_documents_a_valid_example_of_every_event_type() -> None:
    spec = _spec("ingest")
    tags = set(spec["components"]["schemas"]["CustomerEvent"]["discriminator"]["mapping"])
    assert set(EVENT_EXAMPLES) == tags
    single = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert set(single["examples"]) == tags
    for example in single["examples"].values():
        customer_event_adapter.validate_python(example["value"])
    batch = spec["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]
    [mixed] = batch["application/json"]["examples"].values()
    assert {e["type"] for e in mixed["value"]["events"]} == tags
