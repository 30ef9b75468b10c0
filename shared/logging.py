"""structlog JSON logging with a correlation id and a W3C trace context bound per request, and
the fields that say which event a line is about (customer_id, event_id, trace_id)."""

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_HEX = frozenset("0123456789abcdef")
TRACEPARENT_HEADER = "ce_traceparent"  # the CloudEvents distributed-tracing extension, binary mode


@dataclass(frozen=True, slots=True)
class TraceContext:
    """W3C Trace Context: the trace a request belongs to and this service's span in it."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    sampled: bool = True

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> "TraceContext":
        """A new span of ours in the same trace (the caller's span becomes our parent)."""
        return TraceContext(self.trace_id, os.urandom(8).hex(), self.sampled)


trace_context: ContextVar[TraceContext | None] = ContextVar("trace_context", default=None)


def _hex(value: str, length: int) -> bool:
    return len(value) == length and set(value) <= _HEX and value != "0" * length


def parse_traceparent(value: str | bytes | None) -> TraceContext | None:
    """The trace context of a `traceparent` value, or None when it is absent or malformed
    (the W3C rule: an invalid header is ignored and a new trace is started)."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    parts = text.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or not set(parts[0]) <= _HEX:
        return None
    if parts[0] == "00" and len(parts) != 4:
        return None
    version, trace_id, span_id, flags = parts[:4]
    del version
    if not (_hex(trace_id, 32) and _hex(span_id, 16) and len(flags) == 2 and set(flags) <= _HEX):
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


def new_trace() -> TraceContext:
    return TraceContext(os.urandom(16).hex(), os.urandom(8).hex())


def current_traceparent() -> str | None:
    ctx = trace_context.get()
    return ctx.traceparent if ctx is not None else None


def record_fields(
    key: bytes | None, headers: Sequence[tuple[str, bytes]] | None
) -> dict[str, str | None]:
    """customer_id, event_id and trace_id of a CloudEvents Kafka record, for a log line about it
    (the key is the customer id; ce_id the event id; ce_traceparent the producer's trace)."""
    found: Mapping[str, bytes] = dict(headers or ())
    trace = parse_traceparent(found.get(TRACEPARENT_HEADER))
    return {
        "customer_id": key.decode("utf-8", "replace") if key else None,
        "event_id": found["ce_id"].decode("utf-8", "replace") if "ce_id" in found else None,
        "trace_id": trace.trace_id if trace else None,
    }


def _add_correlation_id(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    cid = correlation_id.get()
    if cid is not None:
        event_dict.setdefault("correlation_id", cid)
    trace = trace_context.get()
    if trace is not None:  # a line about one event keeps that event's own trace id
        event_dict.setdefault("trace_id", trace.trace_id)
        event_dict.setdefault("span_id", trace.span_id)
    return event_dict


_process_service: str | None = None  # set by configure_logging


def _add_service(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # uvicorn's server and connection tasks do not descend from the lifespan that binds it.
    if _process_service is not None:
        event_dict.setdefault("service", _process_service)
    return event_dict


def processors() -> list[Any]:
    """The chain every service uses, before the JSON renderer (tests render it themselves)."""
    return [
        structlog.contextvars.merge_contextvars,
        _add_service,
        _add_correlation_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]


class JsonLines(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler: JSON lines on stdout. uvicorn's `--log-config` (deploy/uvicorn-logging.json)
    installs it before the app is imported; configure_logging finds it again and replaces it."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.setFormatter(json_formatter())


def json_formatter() -> logging.Formatter:
    """Standard-library records rendered as our JSON lines (service, level, timestamp, trace)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *processors()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )


# Loggers that libraries give handlers of their own (uvicorn's dictConfig): theirs are removed
# so that their lines reach the root handler and come out as JSON like ours.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "httpx", "alembic")


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout from every logger: structlog's and the standard library's
    (uvicorn, aiokafka, httpx...), with the same fields (service, level, timestamp, trace)."""
    global _process_service
    _process_service = service
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, JsonLines)]:
        root.removeHandler(old)
    root.addHandler(JsonLines())
    root.setLevel(level.upper())
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.setLevel(logging.NOTSET)  # the service's level applies to them too
        library.propagate = True
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
