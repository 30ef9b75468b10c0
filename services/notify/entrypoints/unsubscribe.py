"""One-click unsubscribe (RFC 8058): the signed link in every email's List-Unsubscribe header.

GET shows a confirmation page (link scanners must not opt anyone out); POST opts out, which is
what mailbox providers send for one-click (`List-Unsubscribe=One-Click` in a form body). No API
key: the signed token is the authority, and it can only opt out, never in.
"""

from html import escape

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from services.notify.adapters import store
from services.notify.domain import Channel
from services.notify.domain.unsubscribe import InvalidUnsubscribeToken, read_unsubscribe_token
from shared.logging import get_logger
from shared.openapi import problems
from shared.problems import Problem

router = APIRouter(prefix="/v1", tags=["unsubscribe"])
log = get_logger(__name__)
Token = Path(min_length=3, max_length=600, description="The token of an email's unsubscribe link")


def _read(request: Request, token: str) -> tuple[str, Channel]:
    secret = request.app.state.settings.unsubscribe_secret
    try:
        customer_id, channel = read_unsubscribe_token(secret, token)
        return customer_id, Channel(channel)
    except (InvalidUnsubscribeToken, ValueError) as exc:
        raise Problem(
            400, "Invalid unsubscribe link", str(exc), slug="invalid-unsubscribe-token",
            errors=[{"field": "token", "message": str(exc), "code": "invalid"}],
        ) from exc  # fmt: skip


def _page(title: str, inner: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f'<body style="font-family:sans-serif;max-width:36em;margin:3em auto">'
        f"<h1>{escape(title)}</h1>{inner}</body></html>"
    )


@router.get(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    summary="Confirm page",
    responses=problems(400, 422),
)
async def confirm_unsubscribe(request: Request, token: str = Token) -> HTMLResponse:
    _, channel = _read(request, token)
    return _page(
        "Unsubscribe",
        f"<p>Stop receiving {escape(channel.value)} messages from us?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@router.post(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    summary="One-click opt-out",
    responses=problems(400, 422),
)
async def unsubscribe(request: Request, token: str = Token) -> HTMLResponse:
    customer_id, channel = _read(request, token)
    async with request.app.state.engine.begin() as conn:
        await store.set_preferences(conn, customer_id, {channel.value: False})
    log.info("customer_unsubscribed", customer_id=customer_id, channel=channel.value)
    return _page("Unsubscribed", f"<p>You will get no more {escape(channel.value)} messages.</p>")
