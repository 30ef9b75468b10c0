"""The operator dashboard's old paths on lifecycle, which served it before it became its own
service (services/dashboard): each answers 307 to the same path and query on
CLM_LIFECYCLE_DASHBOARD_URL, so users' bookmarks keep working (the key in the page's
`#key=` fragment survives the redirect)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from services.lifecycle.settings import get_settings
from shared.auth import Scope, require

router = APIRouter(tags=["dashboard (moved)"])
_MOVED = "Moved to the dashboard service (CLM_LIFECYCLE_DASHBOARD_URL)"


def _to_dashboard(request: Request) -> RedirectResponse:
    # Read per request: the app may serve before its lifespan set app.state.settings.
    target = get_settings().dashboard_url.rstrip("/") + request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    return RedirectResponse(target, status_code=307)


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page(request: Request) -> RedirectResponse:
    return _to_dashboard(request)


@router.get("/dashboard/plotly.min.js", include_in_schema=False)
async def plotly_js(request: Request) -> RedirectResponse:
    return _to_dashboard(request)


@router.get(
    "/v1/dashboard/summary",
    summary=_MOVED,
    status_code=307,
    response_class=RedirectResponse,
    responses={307: {"description": "Location: the same request on the dashboard service"}},
)
async def dashboard_summary(
    request: Request, _: Annotated[frozenset[str], Depends(require(Scope.CUSTOMERS_READ))]
) -> RedirectResponse:
    """Kept for old callers: the summary is served by the dashboard service now. The key is
    checked here as before (401/403), then the answer is a 307 to the dashboard's URL; an HTTP
    client drops the Authorization header when it follows a redirect to another host or port,
    so send the key to the dashboard's URL directly."""
    return _to_dashboard(request)
