"""Local stack without Docker: real Kafka (KRaft) and PostgreSQL, migrations, the five services.

Usage: python deploy/local/stack.py {infra|up|down|status}
Everything it starts is recorded by pid under .state/pids and stopped by pid, never by name.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.kafka_admin import ensure_topics, wait_for_broker  # noqa: E402

STATE = Path(os.environ.get("CLM_STATE_DIR", ROOT / ".state"))
PIDS = STATE / "pids"
LOGS = STATE / "logs"
KAFKA_DIR = ROOT / "deploy" / "local" / "kafka"

KAFKA_VERSION = "4.1.1"  # keep in step with deploy/local/kafka/pom.xml and docker-compose.yml
KAFKA_PORT = int(os.environ.get("CLM_KAFKA_PORT", "9092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("CLM_KAFKA_CONTROLLER_PORT", "9093"))
KAFKA_PARTITIONS = int(os.environ.get("CLM_TOPIC_PARTITIONS", "12"))
KAFKA_HEAP = os.environ.get("CLM_KAFKA_HEAP", "1g")
PG_PORT = int(os.environ.get("CLM_PG_PORT", "55432"))
PG_USER, PG_PASSWORD, PG_DB = "clm", "clm", "clm"
# The local mail/SMS/webhook sink notify delivers to (deploy/local/sink).
SINK_SMTP_PORT = int(os.environ.get("CLM_SINK_SMTP_PORT", "1025"))
SINK_HTTP_PORT = int(os.environ.get("CLM_SINK_HTTP_PORT", "9010"))


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    uvicorn_args: tuple[str, ...] = ()

    @property
    def app(self) -> str:
        return f"services.{self.name}.app:app"


SERVICES = [
    # Ingest is CPU-bound per event (parse, validate, serialise); two worker processes use both
    # cores. Each worker has its own pid, hence its own transactional ids (see IngestSettings).
    Service(
        "ingest",
        int(os.environ.get("CLM_INGEST_PORT", "8001")),
        ("--workers", os.environ.get("CLM_INGEST_WORKERS", "2")),
    ),
    Service("lifecycle", int(os.environ.get("CLM_LIFECYCLE_PORT", "8002"))),
    Service("scoring", int(os.environ.get("CLM_SCORING_PORT", "8003"))),
    Service("notify", int(os.environ.get("CLM_NOTIFY_PORT", "8004"))),
    Service("dashboard", int(os.environ.get("CLM_DASHBOARD_PORT", "8006"))),
    Service("audiences", int(os.environ.get("CLM_AUDIENCES_PORT", "8005"))),
]


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(predicate, what: str, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise SystemExit(f"[stack] timed out after {timeout_s:.0f}s waiting for {what}")


def read_pid(name: str) -> int | None:
    path = PIDS / f"{name}.pid"
    if not path.exists():
        return None
    pid = int(path.read_text().strip())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    return pid


def spawn(
    name: str, argv: list[str], env: dict[str, str] | None = None, user: str | None = None
) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
    )
    (PIDS / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def _exited(pid: int) -> bool:
    try:
        # Reap it if it is our own child, or it lingers as a zombie that still "exists".
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_pid(name: str, timeout_s: float = 20.0, sig: int = signal.SIGTERM) -> None:
    pid = read_pid(name)
    if pid is None:
        return
    say(f"stopping {name} (pid {pid})")
    os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _exited(pid):
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    (PIDS / f"{name}.pid").unlink(missing_ok=True)


# ---------------------------------------------------------------- Kafka


def kafka_libs() -> Path:
    libs = STATE / "kafka" / f"libs-{KAFKA_VERSION}"
    if (libs / ".complete").exists():
        return libs
    if shutil.which("mvn") is None:
        raise SystemExit("[stack] Maven (mvn) is needed to fetch the Kafka broker jars")
    say(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central")
    subprocess.run(
        [
            "mvn", "-q", "-B", "-f", str(KAFKA_DIR / "pom.xml"),
            "dependency:copy-dependencies", f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
            f"-Dkafka.version={KAFKA_VERSION}",
        ],
        check=True,
    )  # fmt: skip
    (libs / ".complete").write_text(KAFKA_VERSION)
    return libs


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller; `name` keys its pid file, `home` holds config and data."""

    name: str
    home: Path
    port: int
    controller_port: int
    heap: str = KAFKA_HEAP

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if read_pid(self.name) is not None:  # ours, perhaps still opening its port
            say(f"{self.name} already running on {self.bootstrap}")
            wait_until(lambda: port_open(self.port), f"{self.name} port", 90)
            return
        if port_open(self.port):
            raise SystemExit(
                f"[stack] port {self.port} is taken by a process this stack did not start"
            )
        libs = kafka_libs()
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        template = (KAFKA_DIR / "server.properties.template").read_text()
        config.write_text(
            template.format(
                port=self.port,
                controller_port=self.controller_port,
                data_dir=data,
                partitions=KAFKA_PARTITIONS,
            )
        )
        classpath = f"{libs}/*"
        log4j = f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}"
        if not (data / "meta.properties").exists():
            cluster_id = subprocess.run(
                ["java", "-cp", classpath, log4j, "kafka.tools.StorageTool", "random-uuid"],
                check=True, capture_output=True, text=True,
            ).stdout.split()[-1]  # fmt: skip
            subprocess.run(
                ["java", "-cp", classpath, log4j, "kafka.tools.StorageTool", "format",
                 "-t", cluster_id, "-c", str(config)],
                check=True, capture_output=True,
            )  # fmt: skip
            say(f"formatted KRaft storage in {data} (cluster {cluster_id})")
        pid = spawn(
            self.name,
            ["java", "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-cp", classpath, log4j,
             "kafka.Kafka", str(config)],
        )  # fmt: skip
        say(
            f"kafka {KAFKA_VERSION} starting as {self.name} (pid {pid}), log {LOGS / self.name}.log"
        )
        wait_until(lambda: port_open(self.port), f"{self.name} port", 90)

    def stop(self, *, crash: bool = False) -> None:
        """A clean shutdown, or with `crash` a SIGKILL as in a power cut."""
        stop_pid(self.name, timeout_s=60, sig=signal.SIGKILL if crash else signal.SIGTERM)


MAIN_BROKER = KafkaNode("kafka", STATE / "kafka", KAFKA_PORT, KAFKA_CONTROLLER_PORT)


def kafka_bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{KAFKA_PORT}")


def ensure_kafka() -> str:
    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        MAIN_BROKER.start()
    bootstrap = kafka_bootstrap()
    asyncio.run(wait_for_broker(bootstrap, 90))
    created = asyncio.run(ensure_topics(bootstrap, KAFKA_PARTITIONS))
    if created:
        say(f"created topics: {', '.join(created)}")
    return bootstrap


# ---------------------------------------------------------------- PostgreSQL


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


def install_postgres() -> Path:
    if os.geteuid() != 0:
        raise SystemExit(
            "[stack] PostgreSQL is not installed; run as root or: apt-get install postgresql"
        )
    say("installing Debian's postgresql package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    found = pg_bin()
    if found is None:
        raise SystemExit(
            "[stack] postgresql installed but no pg_ctl found under /usr/lib/postgresql"
        )
    return found


def database_reachable(url: str) -> bool:
    import asyncpg  # local import: the launcher should start even before the venv is complete

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def start_postgres() -> str:
    url = f"postgresql+asyncpg://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{PG_PORT}/{PG_DB}"
    if port_open(PG_PORT) and database_reachable(url):
        say(f"postgresql already running on 127.0.0.1:{PG_PORT}")
        return url
    bindir = pg_bin() or install_postgres()
    root = STATE / "postgres"
    data, sock = root / "data", root / "run"
    as_user = "postgres" if os.geteuid() == 0 else None  # the server refuses to run as root
    root.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if as_user:
        shutil.chown(root, as_user)
        shutil.chown(sock, as_user)
        # The server user must be able to reach the state folder through the checkout.
        for parent in [STATE, *STATE.parents]:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o011)
    prefix = ["runuser", "-u", as_user, "--"] if as_user else []
    if not (data / "PG_VERSION").exists():
        say(f"initialising a PostgreSQL cluster in {data}")
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-instructions"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    LOGS.mkdir(parents=True, exist_ok=True)
    pg_log = root / "server.log"
    options = (
        f"-p {PG_PORT} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200 "
        "-c shared_buffers=512MB -c synchronous_commit=on -c fsync=on "
        # Durable, but with fewer forced checkpoints and compressed full-page images: the
        # consumers write many rows per batch, and WAL volume was their largest cost.
        "-c wal_compression=lz4 -c max_wal_size=4GB -c checkpoint_timeout=15min "
        # Commit times of rows (pg_xact_commit_timestamp): bench.pipeline_latency's stages.
        "-c track_commit_timestamp=on"
    )
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(pg_log), "-o", options,
         "-w", "-t", "60", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    PIDS.mkdir(parents=True, exist_ok=True)
    (PIDS / "postgres.pid").write_text(str(pid))
    say(f"postgresql started (pid {pid}) on 127.0.0.1:{PG_PORT}, log {pg_log}")
    psql = [*prefix, str(bindir.parent / "bin" / "psql"), "-h", str(sock), "-p", str(PG_PORT),
            "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qtA"]  # fmt: skip
    role = subprocess.run(
        [*psql, "-c", f"SELECT 1 FROM pg_roles WHERE rolname='{PG_USER}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if not role:
        subprocess.run(
            [*psql, "-c", f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}' CREATEDB"],
            check=True,
        )
        subprocess.run([*psql, "-c", f"CREATE DATABASE {PG_DB} OWNER {PG_USER}"], check=True)
    return url


def ensure_postgres() -> str:
    explicit = os.environ.get("DATABASE_URL")
    if explicit:
        if database_reachable(explicit):
            return explicit
        # As documented: an unreachable server is replaced by the local cluster, loudly.
        say(f"WARNING: DATABASE_URL is set but not reachable ({explicit}); using a local cluster")
    return start_postgres()


def stop_postgres() -> None:
    pid = read_pid("postgres")
    if pid is None:
        return
    bindir = pg_bin()
    data = STATE / "postgres" / "data"
    if bindir is None:
        stop_pid("postgres")
        return
    say(f"stopping postgresql (pid {pid})")
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], check=False
    )
    (PIDS / "postgres.pid").unlink(missing_ok=True)


# ---------------------------------------------------------------- schema, keys, services


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        check=True, env=env, cwd=ROOT,
    )  # fmt: skip


def dev_api_key(env: dict[str, str]) -> str:
    """A development key with every scope, kept in .state so restarts print the same one."""
    path = STATE / "dev-api-key"
    key = path.read_text().strip() if path.exists() else f"clm_dev_{secrets.token_urlsafe(24)}"
    subprocess.run(
        [sys.executable, "-m", "shared.apikeys_cli", "register", "--name", "local-dev",
         "--all-scopes", "--key", key],
        check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    path.write_text(key)
    path.chmod(0o600)
    return key


def infra_env() -> dict[str, str]:
    bootstrap = ensure_kafka()
    database_url = ensure_postgres()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url}
    migrate(env)
    STATE.mkdir(parents=True, exist_ok=True)  # not made yet when both servers are external
    (STATE / "env.json").write_text(
        json.dumps({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": database_url})
    )
    return env


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def local_wiring() -> dict[str, str]:
    """How the local services find each other and the sink, from the ports in force; a value
    the operator exported wins (it is applied over these)."""
    port = {svc.name: svc.port for svc in SERVICES}
    sink = f"http://127.0.0.1:{SINK_HTTP_PORT}"
    return {
        "CLM_LIFECYCLE_DASHBOARD_URL": f"http://127.0.0.1:{port['dashboard']}",
        "CLM_DASHBOARD_LIFECYCLE_URL": f"http://127.0.0.1:{port['lifecycle']}",
        "CLM_DASHBOARD_SCORING_URL": f"http://127.0.0.1:{port['scoring']}",
        "CLM_DASHBOARD_NOTIFY_URL": f"http://127.0.0.1:{port['notify']}",
        "CLM_NOTIFY_PUBLIC_URL": f"http://127.0.0.1:{port['notify']}",
        "CLM_NOTIFY_SMTP_HOST": "127.0.0.1",
        "CLM_NOTIFY_SMTP_PORT": str(SINK_SMTP_PORT),
        "CLM_NOTIFY_SMS_BASE_URL": sink,
        "CLM_NOTIFY_WEBHOOK_URL": f"{sink}/tasks",
    }


def start_sink(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{SINK_HTTP_PORT}/"
    if read_pid("sink") is not None:
        say(f"sink already running on {url}")
        return
    for port in (SINK_SMTP_PORT, SINK_HTTP_PORT):
        if port_open(port):
            raise SystemExit(
                f"[stack] port {port} for the sink is taken by another process "
                "(set CLM_SINK_SMTP_PORT / CLM_SINK_HTTP_PORT)"
            )
    spawn(
        "sink",
        [sys.executable, "-m", "deploy.local.sink", "--smtp-port", str(SINK_SMTP_PORT),
         "--http-port", str(SINK_HTTP_PORT), "--state", str(STATE / "sink")],
        env=env,
    )  # fmt: skip
    wait_until(lambda: port_open(SINK_HTTP_PORT) and port_open(SINK_SMTP_PORT), "the sink", 30)
    say(f"sink      ready  {url} (email on SMTP :{SINK_SMTP_PORT}, SMS, tasks; `clm messages`)")


# JSON lines from uvicorn's first line on, before the app configures the service's logging.
UVICORN_LOG_CONFIG = ROOT / "deploy" / "uvicorn-logging.json"


def uvicorn_command(app: str, port: int, *args: str) -> list[str]:
    """How every service process is started, here and in the tests."""
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-config", str(UVICORN_LOG_CONFIG), *args]  # fmt: skip


def access_log() -> list[str]:
    """CLM_ACCESS_LOG=1 logs every request (JSON, logger uvicorn.access); off by default."""
    wanted = os.environ.get("CLM_ACCESS_LOG", "").strip().lower() in ("1", "true", "yes")
    return ["--access-log"] if wanted else ["--no-access-log"]


def start_services(env: dict[str, str]) -> None:
    for svc in SERVICES:
        if read_pid(svc.name) is not None:  # ours, ready or still starting: waited for below
            say(f"{svc.name} already running on :{svc.port}")
            continue
        if port_open(svc.port):
            raise SystemExit(f"[stack] port {svc.port} for {svc.name} is taken by another process")
        spawn(
            svc.name,
            uvicorn_command(svc.app, svc.port, *access_log(), *svc.uvicorn_args),
            env=env,
        )  # fmt: skip
    for svc in SERVICES:
        wait_until(lambda port=svc.port: ready(port), f"{svc.name} /readyz", 60)  # type: ignore[misc]
        say(
            f"{svc.name:9s} ready  http://127.0.0.1:{svc.port}/docs   log {LOGS / (svc.name + '.log')}"
        )


def cmd_infra() -> None:
    env = infra_env()
    say(f"KAFKA_BOOTSTRAP_SERVERS={env['KAFKA_BOOTSTRAP_SERVERS']}")
    say(f"DATABASE_URL={env['DATABASE_URL']}")


def cmd_up() -> None:
    env = infra_env()
    key = dev_api_key(env)
    env = {**local_wiring(), **env}
    start_sink(env)
    start_services(env)
    say("all services ready")
    say(f"development API key (every scope): {key}")
    say(
        f"try: curl -s -H 'Authorization: Bearer {key}' http://127.0.0.1:{SERVICES[1].port}/v1/stats/stages"
    )
    say("stop everything with: make stop")


def cmd_down() -> None:
    for svc in reversed(SERVICES):
        stop_pid(svc.name)
    stop_pid("sink")
    MAIN_BROKER.stop()
    stop_postgres()


def cmd_status() -> None:
    for name in ["kafka", "postgres", "sink", *(s.name for s in SERVICES)]:
        pid = read_pid(name)
        print(f"{name:10s} {'running pid ' + str(pid) if pid else 'stopped'}")


def main() -> None:
    commands = {"infra": cmd_infra, "up": cmd_up, "down": cmd_down, "status": cmd_status}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: stack.py {{{'|'.join(commands)}}}")
    commands[sys.argv[1]]()


if __name__ == "__main__":
    main()
