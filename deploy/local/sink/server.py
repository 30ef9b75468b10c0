"""The sink's listeners: an SMTP server (aiosmtpd) and one HTTP server for SMS, tasks and reading.

HTTP: POST /v1/messages (the SMS provider API notify speaks), POST /tasks (signed webhooks,
checked with the webhook secret), GET /messages (JSON, newest first; ?kind=email|sms|task,
?to=, ?limit=) and GET / (a page listing them).
"""

import asyncio
from html import escape
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.smtp import SMTP

from services.notify.domain.signature import SIGNATURE_HEADER, SignatureError, verify

from .email_record import email_record
from .inbox import KINDS, Inbox


class SmtpHandler:
    """Accepts every recipient; keeps each message."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._inbox.add("email", email_record(envelope.content, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def http_app(inbox: Inbox, webhook_secret: str) -> web.Application:
    async def on_sms(request: web.Request) -> web.Response:
        payload = await request.json()
        kept = inbox.add(
            "sms", {"to": payload.get("to"), "text": payload.get("text"), "payload": payload}
        )
        return web.json_response({"id": kept["id"], "status": "accepted"}, status=202)

    async def on_task(request: web.Request) -> web.Response:
        body = await request.read()
        try:  # what a real receiver does: reject what the shared secret did not sign
            verify(webhook_secret, request.headers.get(SIGNATURE_HEADER, ""), body)
        except SignatureError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        payload = orjson.loads(body)
        kept = inbox.add(
            "task",
            {"to": payload.get("customer_id"), "subject": payload.get("title"),
             "text": payload.get("body"), "signature_valid": True, "payload": payload},
        )  # fmt: skip
        return web.json_response({"id": kept["id"], "accepted": True})

    async def list_messages(request: web.Request) -> web.Response:
        kind = request.query.get("kind")
        if kind is not None and kind not in KINDS:
            return web.json_response({"error": f"kind must be one of {KINDS}"}, status=400)
        limit = int(request.query.get("limit", "100"))
        items = inbox.items(kind, request.query.get("to"), max(1, min(limit, 1000)))
        return web.json_response({"items": items}, dumps=lambda v: orjson.dumps(v).decode())

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=render_page(inbox.items(limit=200)), content_type="text/html")

    app = web.Application()
    app.router.add_post("/v1/messages", on_sms)
    app.router.add_post("/tasks", on_task)
    app.router.add_get("/messages", list_messages)
    app.router.add_get("/", page)
    return app


def render_page(items: list[dict[str, Any]]) -> str:
    rows = []
    for item in items:
        html = item.get("html")
        shown = (
            f'<iframe sandbox srcdoc="{escape(html)}" style="width:100%;height:14em;border:1px solid #ccd"></iframe>'
            if html
            else f"<pre>{escape(str(item.get('text') or ''))}</pre>"
        )
        headers = "".join(
            f"<div><b>{escape(k)}:</b> {escape(v)}</div>"
            for k, v in item.get("headers", {}).items()
        )
        rows.append(
            f"<section><h3>{escape(item['kind'])} to {escape(str(item.get('to')))}: "
            f"{escape(str(item.get('subject') or ''))}</h3><small>{escape(item['received_at'])}</small>"
            f"{headers}{shown}</section><hr>"
        )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>CLM sink</title>'
        '<meta http-equiv="refresh" content="10"></head><body style="font-family:sans-serif">'
        f"<h1>Delivered to the local sink ({len(items)} newest)</h1>{''.join(rows) or '<p>Nothing yet.</p>'}"
        "</body></html>"
    )


async def serve(
    inbox: Inbox, host: str, smtp_port: int, http_port: int, webhook_secret: str
) -> None:
    loop = asyncio.get_running_loop()
    handler = SmtpHandler(inbox)
    smtp = await loop.create_server(lambda: SMTP(handler, hostname="clm-sink"), host, smtp_port)
    runner = web.AppRunner(http_app(inbox, webhook_secret), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, http_port).start()
    try:
        await asyncio.Event().wait()  # until the process is stopped
    finally:
        smtp.close()
        await runner.cleanup()
