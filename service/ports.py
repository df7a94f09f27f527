"""Why a port cannot be listened on, said in one line that names the setting to change.

Used by every listener (SMTP, the web server, the catcher), so a new user who
already has something on 2525 reads what to do instead of a traceback.
"""

from __future__ import annotations

import errno

from service.config import ConfigError


def unavailable_port(error: OSError, host: str, port: int, setting: str) -> ConfigError:
    """Why `host`:`port` cannot be listened on, in one line that names the fix."""
    if error.errno == errno.EADDRINUSE:
        why = "is already in use by another program"
    elif error.errno == errno.EACCES:
        why = "needs privileges this user does not have (ports below 1024 usually do)"
    elif error.errno == errno.EADDRNOTAVAIL:
        why = "is not an address of this machine"
    else:
        why = f"cannot be listened on ({error.strerror})"
    return ConfigError(f"{host}:{port} {why}{choose(setting)}")


def choose(setting: str) -> str:
    return f"; choose another with {setting}" if setting else ""
