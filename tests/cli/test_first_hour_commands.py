"""The commands a new user meets first, as they meet them (issue #15, "Commands").

Real processes, real ports, real database files: a port already in use, a
refused recipient, a relay without an admin token, `maildesk outbox | head`,
the demo pointed at a real desk and restarted, `--version` and every
`--help`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.cli import build_parser
from tests.cli.test_serve_process import free_port, import_demo, start_serve, wait_for_health

ROOT = Path(__file__).resolve().parents[2]
SECRET = {"MAILDESK_SECRET": "first-hour-secret-0123456789"}


def maildesk(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    environment.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_port_in_use_is_one_line_that_names_the_flag_and_the_variable(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process, _, _ = start_serve(tmp_path, "--smtp-port", str(port))
        _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"127.0.0.1:{port} is already in use" in line
    assert "--smtp-port" in line and "MAILDESK_SMTP_PORT" in line


def test_send_says_which_recipient_was_refused_and_why_in_words(tmp_path: Path) -> None:
    process, smtp, http = start_serve(tmp_path)
    try:
        wait_for_health(http, process)
        message = tmp_path / "stray.eml"
        message.write_text("From: a@example.test\nTo: someone@elsewhere.test\nSubject: hi\n\nhi\n")
        sent = maildesk("send", str(message), "--smtp-port", str(smtp), cwd=tmp_path)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert sent.returncode == 1
    assert "SMTPRecipientsRefused" not in sent.stderr and "(" not in sent.stderr.split(":")[0]
    assert "someone@elsewhere.test refused: 550 5.1.1" in sent.stderr


def test_a_relay_without_an_admin_token_says_the_admin_api_is_off(tmp_path: Path) -> None:
    process, _, http = start_serve(tmp_path, "--relay", "127.0.0.1:9", env=SECRET)
    try:
        wait_for_health(http, process)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert "admin    off" in out and "MAILDESK_ADMIN_TOKEN" in out
    assert "/api/v1/docs" in out


def test_outbox_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    import_demo(tmp_path)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    script = (
        "import sys, anyio\n"
        "from service.store import open_store, EmailItem\n"
        "from datetime import datetime, timezone\n"
        "async def fill():\n"
        "    store = await open_store('maildesk.db')\n"
        "    now = datetime.now(timezone.utc)\n"
        "    items = [EmailItem('reply', 'customer', f'c{i}@example.test', '', f'<{i}@x>', None,"
        " {}, None, now) for i in range(3000)]\n"
        "    async with store.transaction() as q:\n"
        "        await q.outbox.enqueue(items)\n"
        "    await store.close()\n"
        "anyio.run(fill)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    piped = subprocess.run(
        f"{sys.executable} -m service.cli outbox --limit 3000 | head -n 2",
        shell=True,
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.stdout.startswith("outbox: 3000 pending")
    assert piped.stderr == ""


def test_outbox_shows_what_needs_attention_and_sent_mail_on_request(tmp_path: Path) -> None:
    import_demo(tmp_path)
    shown = maildesk("outbox", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("outbox: empty")
    help_text = maildesk("outbox", "--help", cwd=tmp_path).stdout
    assert "queued, retrying and failed" in help_text and "--sent" in help_text


def test_the_demo_refuses_a_database_it_did_not_make(tmp_path: Path) -> None:
    import_demo(tmp_path)  # a real desk in maildesk.db
    for how in (
        {"args": ["--db", "maildesk.db"], "env": {}},
        {"args": [], "env": {"MAILDESK_DB": "maildesk.db"}},
    ):
        refused = maildesk("demo", *how["args"], cwd=tmp_path, env=how["env"])  # type: ignore[arg-type]
        assert refused.returncode == 2, refused.stderr
        assert "holds a desk the demo did not make" in refused.stderr
        assert "unset MAILDESK_DB" in refused.stderr and "Traceback" not in refused.stderr


def run_demo(workdir: Path, smtp: int, http: int) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILDESK_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "demo",
            "--smtp-port",
            str(smtp),
            "--http-port",
            str(http),
        ],
        cwd=workdir,
        env={**environment, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_restarted_demo_resumes_its_fake_clock_where_it_stood(tmp_path: Path) -> None:
    smtp, http = free_port(), free_port()
    process = run_demo(tmp_path, smtp, http)
    try:
        wait_for_health(http, process)
        token = next(
            line.split("Bearer ")[1].strip()
            for line in iter(process.stdout.readline, "")  # type: ignore[union-attr]
            if "Authorization: Bearer" in line
        )
        moved = httpx.post(
            f"http://127.0.0.1:{http}/api/v1/admin/clock",
            json={"advance": "P3D"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert moved.status_code == 200, moved.text
        when = moved.json()["now"]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    again = run_demo(tmp_path, smtp, http)
    try:
        wait_for_health(http, again)
        resumed = httpx.get(f"http://127.0.0.1:{http}/healthz").json()["now"]
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=30)
    assert resumed.startswith(when[:16])  # the same minute, not back at the start


def test_version_names_the_package_version(tmp_path: Path) -> None:
    shown = maildesk("--version", cwd=tmp_path)
    assert shown.returncode == 0
    assert shown.stdout.strip().startswith("maildesk ") and shown.stdout.strip() != "maildesk"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (group,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(group.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_subcommand_says_what_it_does_and_every_option_has_help(name: str) -> None:
    parser = subcommands()[name]
    assert parser.description and len(parser.description.splitlines()) == 1
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    if any(a.default not in (None, False, argparse.SUPPRESS) for a in parser._actions[1:]):
        assert "(default:" in parser.format_help()
    help_text = " ".join(parser.format_help().split())  # unwrapped
    for noise in ("(default: None)", "(default: False)"):
        assert noise not in help_text, f"{name} --help says {noise!r}"


def test_the_stand_alone_catcher_names_its_busy_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = maildesk("catcher", "--smtp-port", str(port), "--http-port", "0", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (
        f"maildesk: 127.0.0.1:{port} is already in use by another program; "
        "choose another with --smtp-port"
    )
