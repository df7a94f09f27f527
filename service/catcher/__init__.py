"""The built-in mail catcher: an SMTP server that keeps every message, and a web view of them.

`maildesk serve` sends its mail here unless told to use a relay, `maildesk
catcher` runs it on its own, and tests run it with `running_catcher()`.

    mailbox.py   Mailbox, CaughtMessage: the messages and how they read as JSON
    reading.py   reading a caught message (headers, bodies, attachments), never raising
    smtp.py      CatcherHandler, serve_catcher_smtp: SMTP in, on the current loop
    web.py       catcher_routes: /mail pages and the /api/messages API
    app.py       build_catcher_app, run_catcher: the stand-alone catcher
    testing.py   running_catcher: the test fixture
"""

from __future__ import annotations

from service.catcher.app import CatcherAddresses, build_catcher_app, run_catcher
from service.catcher.mailbox import CaughtMessage, Mailbox
from service.catcher.reading import CaughtAttachment
from service.catcher.smtp import CatcherHandler, serve_catcher_smtp
from service.catcher.testing import RunningCatcher, running_catcher
from service.catcher.web import catcher_routes

__all__ = [
    "CatcherAddresses",
    "CatcherHandler",
    "CaughtAttachment",
    "CaughtMessage",
    "Mailbox",
    "RunningCatcher",
    "build_catcher_app",
    "catcher_routes",
    "run_catcher",
    "running_catcher",
    "serve_catcher_smtp",
]
