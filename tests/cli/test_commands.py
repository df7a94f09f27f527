"""The `maildesk` commands as an operator runs them: real processes, a real database file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from service.clock import FakeClock
from service.desk import Desk, MailIdentity, OpenRequest, TicketAction
from service.domain.events import Close, Escalate, Open
from service.domain.records import Party, TicketType
from service.store.sqlite import SqliteStore
from tests.conftest import DOMAIN, START

ROOT = Path(__file__).resolve().parents[2]


def maildesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_import_prints_counts_and_is_idempotent(tmp_path: Path) -> None:
    db = str(tmp_path / "md.db")
    for _ in range(2):
        done = maildesk("import", "fixtures/demo.json", "--db", db)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"vendors": 2, "products": 5, "orders": 11}


def test_import_of_a_bad_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "vendors": [
                    {
                        "id": "x",
                        "name": "X",
                        "account_email": "a@x.test",
                        "timezone": "Nowhere/City",
                    }
                ]
            }
        )
    )
    done = maildesk("import", str(bad), "--db", str(tmp_path / "md.db"))
    assert done.returncode == 2
    assert "vendors[0] (x).timezone: 'Nowhere/City' is not an IANA time zone" in done.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = maildesk("import", str(broken), "--db", str(tmp_path / "md.db"))
    assert done.returncode == 2 and "not valid JSON" in done.stderr


def test_escalations_lists_them_and_marks_and_clears_an_abusing_vendor(tmp_path: Path) -> None:
    db = tmp_path / "md.db"
    assert maildesk("import", "fixtures/demo.json", "--db", str(db)).returncode == 0

    async def escalate() -> int:
        store = await SqliteStore.open(db)
        desk = Desk(store, FakeClock(START.replace(day=23)), MailIdentity(DOMAIN))
        opened = await desk.apply(OpenRequest("B00K4JNE", Open(TicketType.REFUND, Party.CUSTOMER)))
        assert opened.ticket is not None
        number = opened.ticket.number
        await desk.apply(TicketAction(number, (Close(Party.VENDOR, "Fixed it for you"),)))
        await desk.apply(TicketAction(number, (Escalate(Party.CUSTOMER, "Never agreed"),)))
        await store.close()
        return number

    number = anyio.run(escalate)
    listed = maildesk("escalations", "--db", str(db))
    assert listed.returncode == 0
    heading, rule, row = listed.stdout.splitlines()
    assert heading.split() == [
        "escalated",
        "ticket",
        "vendor",
        "marked",
        "abusing",
        "customer's",
        "words",
    ]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.split()[3:] == [f"#{number}", "acme", "no", "Never", "agreed"]
    marked = maildesk("escalations", "--db", str(db), "--abusing", "acme")
    assert "acme is now marked as abusing" in marked.stdout
    assert marked.stdout.splitlines()[-1].split()[3:6] == [f"#{number}", "acme", "yes"]
    cleared = maildesk("escalations", "--db", str(db), "--clear", "acme")
    assert "no longer marked" in cleared.stdout
    assert cleared.stdout.splitlines()[-1].split()[3:6] == [f"#{number}", "acme", "no"]
    unknown = maildesk("escalations", "--db", str(db), "--abusing", "nobody")
    assert unknown.returncode == 2 and "no vendor 'nobody'" in unknown.stderr


@pytest.mark.parametrize("command", ["import", "escalations", "outbox"])
def test_every_database_command_takes_db(command: str) -> None:
    done = maildesk(command, "--help")
    assert done.returncode == 0 and "--db" in done.stdout


def test_serve_with_a_broken_template_stops_at_start_naming_the_file(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "email").mkdir(parents=True)
    (templates / "email" / "reply.txt").write_text("{% block subject %}Re{% endblock %}{% if %}")
    (templates / "email" / "reply.html").write_text("<p>fine</p>")
    done = maildesk(
        "serve",
        *("--db", str(tmp_path / "md.db")),
        *("--templates", str(templates)),
        *("--smtp-port", "0", "--http-port", "0"),
    )
    assert done.returncode == 2, done.stderr
    assert "notification templates" in done.stderr and "reply.txt, line 1" in done.stderr
    assert "leave out --templates" in done.stderr
