"""The catcher's pages as HTML: its Jinja environment, its one date format, its script.

Templates are `templates/web/catcher/*.html`; a `--templates` directory may
override any of them (and the script, `live.js`). Everything is autoescaped.

Times read one way everywhere on the catcher's pages, in UTC and saying so:
`2026-11-02 10:00:05 UTC` (`moment`), with the ISO-8601 form in the
`<time datetime>` attribute (`iso`). The JSON API keeps ISO-8601.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

import service


class CatcherRenderer:
    """Renders the catcher's templates for one request's URLs; one per set of routes."""

    def __init__(self, override: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override is not None:
            loaders.append(jinja2.FileSystemLoader(override))
        loaders.append(jinja2.FileSystemLoader(templates_dir()))
        self.environment = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["moment"] = moment
        self.environment.filters["iso"] = iso

    def render_text(self, request: Request, name: str, **context: Any) -> str:
        return self.environment.get_template(name).render(path_to=path_maker(request), **context)

    def render(
        self, request: Request, name: str, *, status_code: int = 200, **context: Any
    ) -> Response:
        return HTMLResponse(self.render_text(request, name, **context), status_code=status_code)

    def source(self, name: str) -> str:
        """A file beside the templates as it is, unrendered (the pages' script)."""
        loader = self.environment.loader
        assert loader is not None
        text, _, _ = loader.get_source(self.environment, name)
        return text


def path_maker(request: Request) -> Callable[..., str]:
    """`path_to(route, **params)` for templates: the path of a named route, query strings apart."""

    def path_to(route: str, **params: Any) -> str:
        return request.url_for(route, **params).path

    return path_to


def moment(value: datetime | str | None) -> str:
    """`2026-11-02T11:00:05+01:00` -> `2026-11-02 10:00:05 UTC`; "" for none, text as given."""
    at = _datetime(value)
    if at is None:
        return str(value or "")
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | str | None) -> str:
    """The same moment as ISO-8601 in UTC, for `<time datetime>`; "" when unreadable."""
    at = _datetime(value)
    return at.isoformat() if at is not None else ""


def _datetime(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def templates_dir() -> Path:
    """maildesk's `templates/`: inside the package when installed, beside it in a checkout."""
    package = Path(service.__file__).parent
    candidates = (package / "templates", package.parent / "templates")
    for candidate in candidates:
        if (candidate / "web" / "catcher").is_dir():
            return candidate
    looked = ", ".join(str(candidate) for candidate in candidates)
    raise FileNotFoundError(
        f"the catcher's page templates (web/catcher/) were not found; looked in {looked}. "
        "Reinstall maildesk, or run it from a source checkout."
    )
