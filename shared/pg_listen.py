"""One PostgreSQL connection LISTENing on a channel for as long as it runs, reconnecting.

NOTIFY reaches only the connections listening when the notifying transaction commits, so the
user is told when listening starts (to catch up on what it may have missed) and when it stops
(to stop relying on it). Used by the API key cache (`clm_api_keys`) and the outbox relays
(`clm_outbox`).
"""

import asyncio
from collections.abc import Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.logging import get_logger

log = get_logger(__name__)


def _nothing() -> None:
    return None


class ChannelListener:
    def __init__(
        self,
        engine: AsyncEngine,
        channel: str,
        on_payload: Callable[[str], None],
        *,
        on_listening: Callable[[], None] = _nothing,
        on_lost: Callable[[], None] = _nothing,
        check_seconds: float = 1.0,
        timeout_s: float = 3.0,
        lost_event: str = "listener_lost",
    ) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._on_payload = on_payload
        self._on_listening = on_listening
        self._on_lost = on_lost
        self._check = check_seconds
        self._timeout = timeout_s
        self._lost_event = lost_event

    async def run(self) -> None:
        """Listens until cancelled; a failure reconnects after a second."""
        while True:
            conn: asyncpg.Connection | None = None  # type: ignore[type-arg]
            listening = False
            try:
                conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
                await conn.add_listener(self._channel, self._notified)
                listening = True
                self._on_listening()
                while not conn.is_closed():
                    await asyncio.sleep(self._check)
                    await conn.execute("SELECT 1", timeout=self._timeout)  # a dead peer shows
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: tell the user, reconnect
                log.warning(self._lost_event, channel=self._channel, error=repr(exc))
            finally:
                if listening:
                    self._on_lost()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(1.0)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_payload(payload)
