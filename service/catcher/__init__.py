"""The built-in mail catcher: an SMTP server that keeps every message, and a web view of them.

`maildesk serve` sends its mail here unless told to use a relay, `maildesk
catcher` runs it on its own, and tests run it with `running_catcher()`.

    mailbox.py     Mailbox: the messages kept, found, deleted and waited for
    message.py     CaughtMessage: one message, and how it reads as JSON
    reading.py     reading a caught message (headers, bodies, attachments), never raising
    search.py      what a search query means, and what of a message it is matched against
    smtp.py        CatcherHandler, serve_catcher_smtp: SMTP in, on the current loop
    web.py         catcher_routes: the table of every page and API route
    pages.py       the /mail pages: the list, a message's views, the delete buttons
    api.py         the /api/messages JSON API
    live.py        LiveUpdates: the list page's long polls
    rendering.py   the pages' templates, date format and script
    responses.py   the headers of every catcher response; the message a path names
    app.py         build_catcher_app, run_catcher: the stand-alone catcher
    testing.py     running_catcher: the test fixture
"""

from __future__ import annotations

from service.catcher.app import CatcherAddresses, build_catcher_app, run_catcher
from service.catcher.live import LiveUpdates
from service.catcher.mailbox import Mailbox
from service.catcher.message import CaughtMessage
from service.catcher.reading import CaughtAttachment
from service.catcher.smtp import CatcherHandler, serve_catcher_smtp
from service.catcher.testing import RunningCatcher, running_catcher
from service.catcher.web import catcher_routes

__all__ = [
    "CatcherAddresses",
    "CatcherHandler",
    "CaughtAttachment",
    "CaughtMessage",
    "LiveUpdates",
    "Mailbox",
    "RunningCatcher",
    "build_catcher_app",
    "catcher_routes",
    "run_catcher",
    "running_catcher",
    "serve_catcher_smtp",
]
