"""The local stack (deploy/local/stack.py) seen from the CLI: start, stop, and what runs."""

import contextlib
import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from clm_cli.errors import CliError
from clm_cli.settings import CliSettings


@dataclass(frozen=True)
class Component:
    name: str
    pid: int | None
    port: int
    health: str
    healthy: bool


def _sentence(message: str) -> str:
    text = message.removeprefix("[stack]").strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def run_launcher(action: Callable[[], None], what: str) -> None:
    """Runs a launcher function, turning its SystemExit and failed tools into one sentence."""
    try:
        action()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise CliError(_sentence(str(exc.code))) from exc
    except subprocess.CalledProcessError as exc:
        tool = " ".join(map(str, exc.cmd[:3])) if isinstance(exc.cmd, list) else str(exc.cmd)
        raise CliError(
            f"{what} failed: `{tool}` exited with {exc.returncode} (logs in .state/logs)."
        ) from exc
    except (TimeoutError, OSError) as exc:
        raise CliError(f"{what} failed: {exc}.") from exc


@contextlib.contextmanager
def quiet_stdout() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


def components(settings: CliSettings) -> list[Component]:
    from deploy.local import stack

    found = [
        _infra("kafka", stack.read_pid("kafka"), stack.KAFKA_PORT, stack.port_open),
        _infra("postgres", stack.read_pid("postgres"), stack.PG_PORT, stack.port_open),
    ]
    for svc in stack.SERVICES:
        health, healthy = readiness(settings.service_url(svc.name))
        found.append(Component(svc.name, stack.read_pid(svc.name), svc.port, health, healthy))
    return found


def _infra(name: str, pid: int | None, port: int, port_open: Callable[[int], bool]) -> Component:
    listening = port_open(port)
    return Component(name, pid, port, "listening" if listening else "not listening", listening)


def readiness(base_url: str) -> tuple[str, bool]:
    try:
        resp = httpx.get(f"{base_url}/readyz", timeout=3.0)
    except httpx.TransportError:
        return "unreachable", False
    if resp.status_code == 200:
        return "ready", True
    try:
        checks = resp.json().get("checks", {})
        failing = ", ".join(name for name, ok in checks.items() if not ok)
    except (ValueError, AttributeError):
        failing = ""
    return (f"not ready ({failing} down)" if failing else f"HTTP {resp.status_code}"), False


def lifecycle_running(settings: CliSettings) -> str | None:
    """How we know the lifecycle service runs (the stack's pid file, or it answers HTTP)."""
    from deploy.local import stack

    pid = stack.read_pid("lifecycle")
    if pid is not None:
        return f"the local stack runs it as pid {pid}"
    url = settings.service_url("lifecycle")
    try:
        httpx.get(f"{url}/readyz", timeout=2.0)
    except httpx.TransportError:
        return None
    return f"it answers at {url}"
