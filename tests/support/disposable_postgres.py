"""A throw-away PostgreSQL cluster that a test may stop and start, as an outage would, without
disturbing the session's database."""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.local.stack import pg_bin


@dataclass(frozen=True)
class DisposablePostgres:
    home: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        # The server refuses to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, str(bindir / tool), *args],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _data(self) -> Path:
        return self.home / "data"

    def start(self) -> None:
        if os.geteuid() == 0:
            self.home.chmod(0o755)
            shutil.chown(self.home, "postgres")
        if not (self._data() / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self._data()), "-U", "postgres", "-A", "trust", "-E",
                      "UTF8", "--no-instructions")  # fmt: skip
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self._data()), "-l", str(self.home / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: connections are cut, as when the server goes away."""
        self._run("pg_ctl", "-D", str(self._data()), "-m", "fast", "-w", "stop")
