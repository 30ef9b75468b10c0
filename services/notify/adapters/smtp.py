"""Email over SMTP (aiosmtplib) with a small pool of reused connections."""

import asyncio
import base64
from collections.abc import Callable
from email.header import Header
from email.utils import formatdate, parseaddr

import aiosmtplib

from services.notify.domain.email_body import html_part, text_with_footer
from shared.logging import get_logger

from .channels import DeliveryError, Outgoing

log = get_logger(__name__)


class SmtpEmail:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        use_tls: bool = False,
        start_tls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        pool_size: int = 8,
        unsubscribe_url: Callable[[str], str] | None = None,
    ) -> None:
        self._host, self._port, self._sender = host, port, _header_safe(sender)
        self._envelope_from = parseaddr(sender)[1] or sender
        self._use_tls, self._start_tls = use_tls, start_tls
        self._username, self._password = username, password
        self._timeout = timeout
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[aiosmtplib.SMTP] = []
        self._unsubscribe_url = unsubscribe_url  # customer id -> one-click opt-out URL

    def _compose(self, message: Outgoing) -> bytes:
        """The message as RFC 5322 bytes, built directly: the stdlib email package's header
        machinery costs more CPU than the whole SMTP exchange. multipart/alternative: the
        text part first, the HTML part (the same words) last, as receivers prefer it."""
        unsubscribe = self._unsubscribe_url(message.customer_id) if self._unsubscribe_url else None
        headers = [
            ("From", self._sender),
            ("To", _header_safe(message.to)),
            ("Subject", _encoded(message.subject)),
            ("Date", formatdate(usegmt=True)),
            # A stable Message-ID lets receiving systems drop a copy if one ever goes twice.
            ("Message-ID", f"<{message.message_id}@notify.clm>"),
            ("X-CLM-Message-Id", message.message_id),
            ("X-CLM-Playbook", f"{message.playbook}/{message.step}"),
            ("Content-Language", _header_safe(message.locale)),
            ("MIME-Version", "1.0"),
        ]
        if unsubscribe:
            # RFC 8058 one-click: mailbox providers POST "List-Unsubscribe=One-Click" to the URL.
            headers.append(("List-Unsubscribe", f"<{_header_safe(unsubscribe)}>"))
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        boundary = f"=_clm_{message.message_id.replace('-', '')}"
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        head = "".join(f"{name}: {value}\r\n" for name, value in headers)
        text = text_with_footer(message.body, unsubscribe)
        html = html_part(message.body, message.subject, unsubscribe)
        parts = b"".join(
            f'--{boundary}\r\nContent-Type: {kind}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode()
            + base64.encodebytes(content.encode()).replace(b"\n", b"\r\n")
            for kind, content in (("text/plain", text), ("text/html", html))
        )
        return head.encode() + b"\r\n" + parts + f"--{boundary}--\r\n".encode()

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._use_tls,
            start_tls=self._start_tls,
            username=self._username,
            password=self._password,
            timeout=self._timeout,
        )
        await client.connect()
        return client

    async def send(self, message: Outgoing) -> str:
        email = self._compose(message)
        recipients = [message.to]
        async with self._slots:
            reused = bool(self._idle)
            client = self._idle.pop() if reused else None
            try:
                try:
                    client = client or await self._connect()
                    _, response = await client.sendmail(self._envelope_from, recipients, email)
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    if not reused:
                        raise
                    # The server dropped an idle pooled connection; one fresh attempt.
                    await _close(client)
                    client = await self._connect()
                    _, response = await client.sendmail(self._envelope_from, recipients, email)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                await _close(client)
                refused = exc.recipients[0] if exc.recipients else None
                code = refused.code if refused else 550
                text = refused.message if refused else str(exc)
                raise DeliveryError(f"{code} {text}", transient=400 <= code < 500) from exc
            except aiosmtplib.SMTPResponseException as exc:
                await _close(client)
                transient = 400 <= exc.code < 500
                raise DeliveryError(f"{exc.code} {exc.message}", transient=transient) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _close(client)
                raise DeliveryError(f"{type(exc).__name__}: {exc}", transient=True) from exc
            assert client is not None
            self._idle.append(client)
            return response

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_close(c) for c in idle))


def _header_safe(value: str) -> str:
    """No line breaks in header values: customer data must not be able to add headers."""
    return " ".join(value.splitlines())[:900]


def _encoded(value: str) -> str:
    text = _header_safe(value)
    return text if text.isascii() else Header(text, "utf-8").encode()


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), 2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
