"""Every logger's lines are JSON (issue 18, item 7): structlog's and the standard library's
(uvicorn, aiokafka, httpx), even after uvicorn gave its loggers handlers of their own."""

import contextvars
import json
import logging
import os
import subprocess
import sys
import time

import pytest
import structlog

from deploy.local.stack import ROOT, uvicorn_command
from shared.logging import configure_logging, get_logger
from tests.support.services import free_port


def test_lines_of_every_logger_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    plain = logging.StreamHandler(sys.stdout)  # what uvicorn's own logging config installs
    plain.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("uvicorn.error").addHandler(plain)
    logging.getLogger("uvicorn.error").propagate = False
    try:
        configure_logging("notify", "INFO")
        get_logger("services.notify").info("ours", customer_id="c-1")
        logging.getLogger("uvicorn.error").info("Application startup complete.")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/readyz", "1.1", 200
        )
        logging.getLogger("aiokafka.consumer").warning("Heartbeat failed for group %s", "g")
        logging.getLogger("httpx").info("HTTP Request: GET http://x %s", '"HTTP/1.1 200 OK"')
        # uvicorn's server and connection tasks do not descend from the lifespan that bound
        # the service: their context is empty, and their lines still name the service.
        contextvars.Context().run(
            logging.getLogger("uvicorn.error").info, "Application startup complete."
        )
    finally:
        structlog.reset_defaults()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if type(h).__name__ == "JsonLines"]:
            root.removeHandler(handler)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == [
        "ours",
        "Application startup complete.",
        '127.0.0.1:5 - "GET /readyz HTTP/1.1" 200',
        "Heartbeat failed for group g",
        'HTTP Request: GET http://x "HTTP/1.1 200 OK"',
        "Application startup complete.",
    ]
    for line in lines:
        assert line["service"] == "notify" and line["level"] in ("info", "warning")
        assert "timestamp" in line
    assert lines[3]["logger"] == "aiokafka.consumer"


@pytest.mark.parametrize("service", ["ingest", "lifecycle", "scoring", "notify", "audiences"])
def test_uvicorns_first_lines_are_json_too(service: str) -> None:
    """A service started as the stack and the tests start it (the image and k8s set the same
    `--log-config` through UVICORN_LOG_CONFIG): the lines uvicorn writes before the app's
    startup ("Started server process", "Waiting for application startup.") are JSON too.
    Nothing listens on the broker and database addresses: only those first lines are read."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "DATABASE_URL": f"postgresql+asyncpg://clm:clm@127.0.0.1:{free_port()}/clm",
        "CLM_ENVIRONMENT": "test",
    }
    command = uvicorn_command(f"services.{service}.app:app", free_port())
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            if not line:
                break
            lines.append(line)
            if "Waiting for application startup" in line:
                break
    finally:
        process.kill()
        process.wait(10)
    assert any("Started server process" in line for line in lines), lines
    assert any("Waiting for application startup" in line for line in lines), lines
    for line in lines:
        try:
            parsed = json.loads(line)
        except ValueError:
            pytest.fail(f"not JSON: {line!r}")
        assert parsed["logger"] == "uvicorn.error" and parsed["level"] == "info", line
        assert "timestamp" in parsed and "event" in parsed, line


def test_the_image_starts_every_service_with_the_json_log_config() -> None:
    """k8s and compose run the image's uvicorn with their own arguments: the image's
    environment carries the log config (uvicorn reads UVICORN_LOG_CONFIG)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.index("AS runtime") :].split("\nFROM ")[0]
    assert "COPY deploy/uvicorn-logging.json /app/uvicorn-logging.json" in runtime
    assert "UVICORN_LOG_CONFIG=/app/uvicorn-logging.json" in runtime
