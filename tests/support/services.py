"""Runs a service as a real uvicorn process on a free port, like the launcher does."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.local.stack import uvicorn_command

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "test-artifacts" / "logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServiceProcess":
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"{self.name}-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            uvicorn_command(f"services.{self.name}.app:app", self.port, "--no-access-log"),
            env={**os.environ, **self.env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; see {log.name}"
                )
            if self.ready():
                return self
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout}s; see {log.name}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def service_client(service: ServiceProcess, key: str, timeout: float = 30) -> httpx.AsyncClient:
    """An HTTP client of a running service that authenticates with `key`."""
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=service.url, headers=headers, timeout=timeout)
