"""What `maildesk serve` and `maildesk demo` print when they are ready: where everything is.

Written for the person who just started maildesk: every address they can
use, the admin token when this is a local installation, and, said rather
than silent, what is switched off or exposed and how to change it.
"""

from __future__ import annotations

from pathlib import Path

from service.config import Settings
from service.runtime import Runtime
from service.web.http_hosts import LOOPBACK_NAMES, allowed_hosts, is_loopback_host


def banner(runtime: Runtime) -> str:
    s = runtime.settings
    web = _web(s)
    mail = f"relay {s.relay.url}" if s.relay else f"{web}/mail (built-in catcher)"
    clock = f"fake, now {runtime.clock.now().isoformat()}" if runtime.fake_clock else "system"
    lines = [
        f"maildesk serving {s.domain} on {s.db}",
        f"  SMTP     {s.smtp_host}:{s.smtp_port}  (refund@, cancel@, support@, lookup@{s.domain})"
        + (f", {s.smtp_processes} processes" if s.smtp_processes > 1 else ""),
        f"  web/API  {web}   health {web}/healthz   API reference {web}/api/v1/docs",
        f"  mail     {mail}",
        f"  checks   {_checks(s)}",
        f"  clock    {clock}",
        _admin_line(s),
        *_exposure_notes(s),
    ]
    return "\n".join(lines)


def _checks(s: Settings) -> str:
    """What protects mail in and out, said rather than silent when it is off."""
    tls = "STARTTLS required" if s.smtp_require_tls else "STARTTLS" if s.tls_cert else "no STARTTLS"
    auth = "SPF/DKIM/DMARC judged here" if s.sender_auth else "sender authentication off"
    dkim = f"DKIM-signed ({s.dkim_selector})" if s.dkim_key else "notifications unsigned"
    return f"{tls}, {auth}, {dkim}"


def demo_tour(runtime: Runtime, counts: dict[str, int], sample: Path) -> str:
    """The five commands that show the demo working, with this run's ports and token."""
    s = runtime.settings
    web, token = _web(s), s.admin_token
    return (
        f"\nImported {counts['vendors']} vendors, {counts['products']} products and "
        f"{counts['orders']} orders from fixtures/demo.json. Try:\n"
        f"  maildesk send {sample} --smtp-port {s.smtp_port}\n"
        f"      Jane asks for a refund of order Q7K2M9XA; both emails appear at {web}/mail\n"
        f"  curl -s -H 'Authorization: Bearer {token}' {web}/api/v1/tickets\n"
        f"  curl -s -H 'Authorization: Bearer {token}' -d '{{\"advance\": \"P1D\"}}' "
        f"{web}/api/v1/admin/clock\n"
        f"      a weekday later the refund is processed and confirmed to both parties\n"
        f"  curl -s -H 'Authorization: Bearer {token}' {web}/api/v1/vendors/acme\n"
        f"      the vendor's API key and command address\n"
    )


def _web(s: Settings) -> str:
    host = f"[{s.http_host}]" if ":" in s.http_host else s.http_host
    return f"http://{host}:{s.http_port}"


def _admin_line(s: Settings) -> str:
    if not s.admin_token:
        return (
            "  admin    off: no MAILDESK_ADMIN_TOKEN is set, so the admin API (import, clock, "
            "escalations) answers 401; set one and restart to use it"
        )
    if s.relay is None:  # a local installation: the token was made here, show it
        return f"  admin    Authorization: Bearer {s.admin_token}"
    return "  admin    on, with the token in MAILDESK_ADMIN_TOKEN"


def _exposure_notes(s: Settings) -> list[str]:
    """What a web server listening beyond this machine shows, and to whom: said, never silent."""
    if is_loopback_host(s.http_host):
        return []
    notes = []
    if s.relay is None:
        notes.append(
            f"  note     --http-host {s.http_host} reaches other machines: the built-in "
            "catcher's pages (/mail, /api/messages) show them nothing without the admin "
            "token; in a browser sign in with any user name and the admin token as password, "
            "from scripts send the Authorization line above"
        )
    names = allowed_hosts(s.public_base_url, s.http_host)
    if names == LOOPBACK_NAMES:  # bound to every address, and no --base-url names one
        notes.append(
            f"  note     without --base-url the web server answers only to "
            f"{', '.join(sorted(names))}; set --base-url (MAILDESK_BASE_URL) to the address "
            "other machines use, which also goes into the links in emails"
        )
    return notes
