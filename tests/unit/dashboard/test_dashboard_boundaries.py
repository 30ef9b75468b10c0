"""The dashboard is a client of the services' HTTP APIs (issue 19): it reads no other
service's tables, and lifecycle no longer serves it (its old paths redirect to it)."""

import ast
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from services.lifecycle.app import app as lifecycle_app

DASHBOARD = Path(__file__).resolve().parents[3] / "services" / "dashboard"
OLD_PATHS = ("/dashboard", "/dashboard/plotly.min.js", "/v1/dashboard/summary")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", sorted(DASHBOARD.glob("*.py")), ids=lambda p: p.name)
def test_the_dashboard_imports_no_other_services_code_nor_sql(module: Path) -> None:
    imported = _imports(module)
    foreign = {
        m for m in imported if m.startswith("services.") and not m.startswith("services.dashboard")
    }
    assert not foreign, f"{module.name} imports {foreign}: call the service's API instead"
    assert "sqlalchemy" not in imported, f"{module.name} queries a database"


def test_lifecycle_serves_none_of_the_dashboards_handlers() -> None:
    handlers = {c.path: c.endpoint.__module__ for c in iter_route_contexts(lifecycle_app.routes)}
    assert "/dashboard" in handlers  # answered (by a redirect), so users' URLs keep working
    assert all(not m.startswith("services.dashboard") for m in handlers.values()), handlers


async def test_lifecycles_old_dashboard_paths_redirect_to_the_dashboard_service() -> None:
    # Only the redirect is exercised: the app's lifespan (Kafka, PostgreSQL) is not started.
    transport = httpx.ASGITransport(app=lifecycle_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lifecycle") as client:
        for path in OLD_PATHS[:2]:
            resp = await client.get(path, params={"days": "7"})
            assert resp.status_code == 307, (path, resp.status_code)
            assert resp.headers["location"] == f"http://127.0.0.1:8006{path}?days=7"
