"""The `maildesk` command: every subcommand's parser, and `main`.

Parsing uses the standard library's argparse: subcommands, help and
environment defaults are all it needs, and it adds no dependency. Each
subcommand is one function elsewhere; this module only says which, with a
one-line description and a help text (and its default) for every option.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

import anyio

from service.bench import cli as bench
from service.catalog import ImportError_
from service.catcher.app import DEFAULT_HTTP_PORT, DEFAULT_SMTP_PORT
from service.cli.backup import cmd_backup
from service.cli.demo import cmd_demo
from service.cli.dkim import cmd_dkim
from service.cli.operator import (
    cmd_escalations,
    cmd_import,
    cmd_migrate_db,
    cmd_outbox,
)
from service.cli.send import cmd_send
from service.config import DEFAULT_DB, DEFAULT_DOMAIN, ConfigError, env
from service.event_loop import anyio_backend_options
from service.serving.options import DEMO_DB, WEBHOOK_ALLOW_HOSTS_HELP, add_serve_options
from service.serving.run import cmd_catcher, cmd_serve
from service.store import StorageError

Command = Callable[[argparse.Namespace], Awaitable[int]]


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (from MAILDESK_* when that is set).

    Not where there is none to tell: a flag (False), an option that is off
    unless given (None), or one whose help already says it.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if action.default is None or action.default is False or "(default" in help_text:
            return help_text
        return super()._get_help_string(action)


def _version() -> str:
    try:
        return version("maildesk")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown (not installed)"


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=env("db", DEFAULT_DB),
        help="the database: a SQLite file or a postgresql://… URL (MAILDESK_DB)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maildesk",
        description="An email helpdesk for refunds, cancelations and support: "
        "customers and vendors settle tickets by email.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"maildesk {_version()}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )

    def command(name: str, summary: str, run: Command) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=summary, description=summary, formatter_class=_Help)
        p.set_defaults(run=run)
        return p

    p = command(
        "serve", "run the SMTP listener, web server and API, scheduler and outbox", cmd_serve
    )
    add_serve_options(p)

    p = command("demo", "serve the demo data on a fake clock, on a database of its own", cmd_demo)
    add_serve_options(p, db_default=DEMO_DB)

    p = command("import", "import vendors, products and orders from a JSON file", cmd_import)
    p.add_argument("file", help="a JSON file in the import format (docs/import-format.md)")
    _db_option(p)
    p.add_argument(
        "--webhook-allow-hosts",
        default=env("webhook_allow_hosts"),
        metavar="HOSTS",
        help=f"{WEBHOOK_ALLOW_HOSTS_HELP} (MAILDESK_WEBHOOK_ALLOW_HOSTS)",
    )

    p = command(
        "escalations",
        "list escalations; mark a vendor as abusing the save-the-sale window, or clear it",
        cmd_escalations,
    )
    _db_option(p)
    p.add_argument("--vendor", help="list only this vendor's escalations")
    p.add_argument("--abusing", metavar="VENDOR", help="mark VENDOR as abusing the window")
    p.add_argument("--clear", metavar="VENDOR", help="clear VENDOR's abuse mark")

    p = command("outbox", "show queued, retrying and failed notifications", cmd_outbox)
    _db_option(p)
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--sent", action="store_true", help="show sent notifications instead")
    shown.add_argument("--all", action="store_true", help="show every notification")
    p.add_argument("--limit", type=int, default=50, help="show at most this many, newest first")

    p = command(
        "migrate-db", "copy a SQLite database into an empty PostgreSQL database", cmd_migrate_db
    )
    _db_option(p)
    p.add_argument("--to", required=True, metavar="postgresql://…", help="the target database")

    p = command(
        "catcher", "a stand-alone mail catcher: SMTP in, a web page and JSON out", cmd_catcher
    )
    p.add_argument("--smtp-host", default="127.0.0.1", help="SMTP listen address")
    p.add_argument("--smtp-port", default=str(DEFAULT_SMTP_PORT), help="SMTP listen port")
    p.add_argument("--http-host", default="127.0.0.1", help="web listen address")
    p.add_argument("--http-port", default=str(DEFAULT_HTTP_PORT), help="web listen port")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --http-host be an address other machines reach; the catcher has no password, "
        "so anyone who can reach it reads and deletes every caught message",
    )

    p = command("send", "send an .eml file to maildesk's SMTP listener", cmd_send)
    p.add_argument("file", help="the message, as a mail server would relay it")
    p.add_argument(
        "--smtp-host",
        default=env("smtp_host", "127.0.0.1"),
        help="listener address (MAILDESK_SMTP_HOST)",
    )
    p.add_argument(
        "--smtp-port", default=env("smtp_port", "2525"), help="listener port (MAILDESK_SMTP_PORT)"
    )
    p.add_argument("--from", dest="sender", help="envelope sender; none: the From header")
    p.add_argument(
        "--to", action="append", help="envelope recipient, repeatable; none: the To header"
    )

    p = command(
        "backup", "copy the SQLite database consistently, even while serve runs", cmd_backup
    )
    p.add_argument("file", help="the new file to write (never an existing one)")
    _db_option(p)

    p = command(
        "dkim", "make a DKIM signing key for notifications and print its DNS record", cmd_dkim
    )
    p.add_argument("action", choices=["keygen"], help="keygen: write a new key")
    p.add_argument("--selector", required=True, help="the DKIM selector, e.g. md2026")
    p.add_argument("--type", choices=["rsa", "ed25519"], default="rsa", help="RSA-2048 or Ed25519")
    p.add_argument("--out", help="the key file to write; none: dkim-SELECTOR.key")
    p.add_argument(
        "--domain",
        default=env("domain", DEFAULT_DOMAIN),
        help="the support domain that signs (MAILDESK_DOMAIN)",
    )

    p = command("bench", "measure throughput, latency and memory beside the bare stack", bench.run)
    bench.add_options(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return anyio.run(run, args, backend_options=anyio_backend_options())
    except (ConfigError, ImportError_, StorageError) as error:
        print(f"maildesk: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`maildesk outbox | head`): nothing left to say to it. Point
        # stdout at /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
