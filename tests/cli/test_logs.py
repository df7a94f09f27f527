"""The service's log: one line per event, JSON with `--log-format json`, ids and no secrets."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service import logs

SECRET = "a-long-enough-test-secret-value"
TOKEN = "admin-token-for-the-log-test"


def test_human_lines_carry_the_context_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.HumanFormatter())
    handler.addFilter(logs._ContextFilter())
    logger = logging.getLogger("service.inbound.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with logs.context(request_id="r1"):
            logs.annotate(message_id="<m1@x>")
            logger.info("one event", extra={"ticket": 12})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.endswith("inbound.test  one event [request=r1 message=<m1@x> ticket=12]")
    assert "\n" not in line


def test_serve_writes_json_lines_with_request_and_message_ids(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "MAILDESK_SECRET": SECRET,
        "MAILDESK_ADMIN_TOKEN": TOKEN,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--db",
            str(tmp_path / "d.db"),
            "--smtp-port",
            "0",
            "--http-port",
            "0",
            "--log-format",
            "json",
        ],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        smtp = http = ""
        deadline = time.monotonic() + 30
        while not (smtp and http) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.strip().startswith("SMTP"):
                smtp = line.split()[1]
            if line.strip().startswith("web/API"):
                http = line.split()[1]
        host, _, port = smtp.rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=10) as client:
            client.sendmail(
                "jane@example.test",
                ["support@support.maildesk.test"],
                b"From: jane@example.test\r\nSubject: hi\r\nMessage-ID: <log-1@example.test>\r\n"
                b"\r\nA body that must not be logged\r\n",
            )
        response = httpx.get(
            f"{http}/metrics",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "from-client-1"},
        )
        assert response.headers["x-request-id"] == "from-client-1"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    smtp_events = [e for e in events if e["message"].startswith("SMTP message")]
    assert smtp_events and smtp_events[0]["message_id"] == "<log-1@example.test>"
    assert smtp_events[0]["request_id"]
    http_events = [e for e in events if e["message"].startswith("HTTP GET /metrics")]
    assert http_events and http_events[0]["request_id"] == "from-client-1"
    assert "must not be logged" not in err and SECRET not in err and TOKEN not in err
