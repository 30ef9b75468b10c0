"""Every logger's lines are JSON (issue 18, item 7): structlog's and the standard library's
(uvicorn, aiokafka, httpx), even after uvicorn gave its loggers handlers of their own."""

import json
import logging
import sys

import pytest
import structlog

from shared.logging import configure_logging, get_logger


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
    finally:
        structlog.reset_defaults()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if type(h).__name__ == "_JsonLines"]:
            root.removeHandler(handler)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == [
        "ours",
        "Application startup complete.",
        '127.0.0.1:5 - "GET /readyz HTTP/1.1" 200',
        "Heartbeat failed for group g",
        'HTTP Request: GET http://x "HTTP/1.1 200 OK"',
    ]
    for line in lines:
        assert line["service"] == "notify" and line["level"] in ("info", "warning")
        assert "timestamp" in line
    assert lines[3]["logger"] == "aiokafka.consumer"
