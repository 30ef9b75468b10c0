"""What every channel adapter takes and how it reports failure."""

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    customer_id: str
    channel: str
    to: str
    subject: str
    body: str
    locale: str
    playbook: str
    step: str
    details: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """The provider did not take the message; `transient` ones are retried with backoff."""

    def __init__(self, response: str, *, transient: bool) -> None:
        super().__init__(response)
        self.response = response[:2000]
        self.transient = transient


class ChannelAdapter(Protocol):
    async def send(self, message: Outgoing) -> str:
        """Delivers the message and returns the provider's answer, or raises DeliveryError."""
        ...

    async def close(self) -> None: ...


def http_failure(status: int, body: str) -> DeliveryError:
    """HTTP providers: throttling, timeouts and server errors are worth retrying; others not."""
    transient = status in (408, 425, 429) or status >= 500
    return DeliveryError(f"HTTP {status}: {body[:500]}", transient=transient)
