"""The service's log: one line per event, for a person by default, JSON for a log pipeline.

`configure` sets up the root logger once per process (`serve`, `demo`, each
SMTP helper): `--log-format human` writes

    2026-12-04T15:00:00Z INFO  inbound  message answered 250 [request=4f1c message=<a@b> ticket=12]

and `--log-format json` one JSON object a line with the same fields
(`time`, `level`, `logger`, `message`, and `request_id`, `message_id`,
`ticket` where they apply). Those three come from `context`: the SMTP
listener opens one per message, the web server one per request (its
`X-Request-ID` when the client sends a sane one), and code that learns the
Message-ID or ticket number adds it with `annotate`. A log line passes
through `extra={...}` with the same names too.

What never goes in a line: secrets (the signing secret, tokens, passwords,
reply-address HMACs are never formatted into messages) and message bodies
(only ids and addresses). aiosmtpd's own logger, which writes every SMTP
command and can write message content at debug level, is held at warnings.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

FORMATS = ("human", "json")
FIELDS = ("request_id", "message_id", "ticket")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "maildesk_log_context", default=None
)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def new_request_id(offered: str | None = None) -> str:
    """The client's own id when it is short and plain, else a fresh one."""
    if offered and _SANE_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex[:16]


@contextmanager
def context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Fields every log line inside the block carries (`request_id`, `message_id`, `ticket`)."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v not in (None, "")})
    token = _context.set(current)
    try:
        yield current
    finally:
        _context.reset(token)


def annotate(**fields: Any) -> None:
    """Add fields to the current context (a Message-ID learned from parsing, a ticket number)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v not in (None, "")})


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get() or {}
        for name in FIELDS:
            if getattr(record, name, None) in (None, "") and name in fields:
                setattr(record, name, fields[name])
        return True


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _logger_name(record: logging.LogRecord) -> str:
    return record.name.removeprefix("service.")


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{label}={getattr(record, name)}"
            for name, label in (
                ("request_id", "request"),
                ("message_id", "message"),
                ("ticket", "ticket"),
            )
            if getattr(record, name, None) not in (None, "")
        )
        line = (
            f"{_time(record)} {record.levelname:<7} {_logger_name(record)}  {record.getMessage()}"
        )
        if fields:
            line += f" [{fields}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": _logger_name(record),
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                data[name] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(log_format: str = "human", level: str = "info") -> None:
    """Send every log line of this process to stderr, in `log_format`, from `level` up."""
    if log_format not in FORMATS:
        from service.config import ConfigError

        raise ConfigError(f"--log-format {log_format!r}: expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither format shows a line's source file, thread or process, so the logging module
    # need not look them up for each record: a walk up the stack and a getpid, about half
    # of the ~45 µs the SMTP listener's line costs every message (the logging HOWTO's
    # "Optimization" section names these switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: every command, content
    logging.getLogger("asyncio").setLevel(logging.WARNING)
