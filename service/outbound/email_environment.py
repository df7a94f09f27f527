"""The Jinja environment of the notifications, and `{% shared %}` sections rendered once per view.

The order details and the comment history are half of a render, and often
read the same in both parties' copies of one event's notification; a shared
section is rendered once and reused for the other party when that party
sees it alike: the same zone and the same names of the comments' writers
(see `_SharedSection`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.runtime

from service.adapters.jinja import DirectMethodContext
from service.outbound.filters import day, filesize, humanize, money, nl2br, para, payment, when
from service.outbound.macro_inlining import inline_macros

SHARED_NAMES = (
    "kind",
    "ticket",
    "order",
    "vendor",
    "facts",
    "customer_name",
    "vendor_name",
    "product_name",
    "type_label",
    "type_labels",
    "names",
    "actor",
    "awaiting_approval",
    "physical",
    "currency",
    "zone",
    "comments",
)
"""What a `{% shared %}` section sees: the names that are the same for both parties, and
the two that may not be (`zone`, and `comments` with their writers named for the reader),
which the render sums up in `shared_view`."""

SharedSections = dict[tuple[str, str, str], str]
"""Rendered `{% shared %}` sections of one event, by (template name, kind, shared view)."""

SECTIONS: contextvars.ContextVar[SharedSections | None] = contextvars.ContextVar(
    "maildesk_shared_sections", default=None
)


class _SharedSection(jinja2.ext.Extension):
    """`{% shared "email/_order.txt" %}`: a section rendered once per event for both parties.

    The order details and the comment history are half of a render and the
    same in every recipient's copy. A shared section is an ordinary template
    rendered with only `SHARED_NAMES` (anything else, like `party`, is
    undefined there and fails loudly), and its text is kept in the render's
    `SharedSections` under the render's `shared_view` (the reader's zone and
    how the comments' writers are named to it), so the other party's copy of
    the same event reuses it when it sees the same. Without `SharedSections`
    it is simply rendered each time.
    """

    tags = {"shared"}  # noqa: RUF012 (Extension declares tags as a set attribute)

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        name = parser.parse_expression()
        if isinstance(name, jinja2.nodes.Const):
            self.environment.get_template(name.value)  # a broken section fails at `check`
        call = self.call_method("_render", [name, jinja2.nodes.ContextReference()])
        return jinja2.nodes.Output([jinja2.nodes.MarkSafeIfAutoescape(call)], lineno=lineno)

    def _render(self, name: str, context: jinja2.runtime.Context) -> str:
        sections = SECTIONS.get()
        key = (name, str(context.get("kind")), str(context.get("shared_view")))
        if sections is not None and key in sections:
            return sections[key]
        known = context.get_all()  # one plain dict: `in` and `[]` on the Context are Python calls
        variables = {key: known[key] for key in SHARED_NAMES if key in known}
        text = self.environment.get_template(name).render(variables)
        if sections is not None:
            sections[key] = text
        return text


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    """Jinja with a quicker `ticket.number` on the plain dicts of a render context, and
    each template's globals in one plain dict.

    Jinja resolves `a.b` by trying the attribute, and only when that raises
    `AttributeError`, the item: for a dict, an exception per lookup, about a
    microsecond each and a hundred per email. A plain dict has no attributes
    beyond its type's, so for any other name the item is what Jinja would
    find; this looks there first. Anything else (`order.get`, a missing key,
    other objects) goes the usual way, so templates see exactly the same values.
    """

    context_class = DirectMethodContext
    inlining = True
    """Whether compiling writes small imported macros into their callers (`compile`)."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """The template's globals over the environment's, copied into one dict.

        Jinja's own is a `ChainMap` over both, so that globals added to the
        environment after a template was loaded still show in it, which its
        documentation asks not to rely on; nothing here adds any. Every render
        context copies the globals (`dict(chainmap)`, `set(chainmap)`, Python
        loops over both maps), and every `{% from … import %}` takes their keys
        from the context's (`set - KeysView`, again in Python): about seven contexts and
        eight imports an email, a fifth of a render. From a dict, each is one C
        call. The same names, bound to the same objects.
        """
        return {**self.globals, **(d or {})}

    def compile(
        self,
        source: str | jinja2.nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        """Jinja's compile, with small imported macros written into their callers first
        (`service.outbound.macro_inlining`: the same output without a call's cost)."""
        if isinstance(source, str) and self.inlining:
            source = inline_macros(self, self.parse(source, name, filename))
        if raw:
            return super().compile(source, name, filename, True, defer_init)
        return super().compile(source, name, filename, False, defer_init)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def email_environment(
    templates_dir: Path, *, html: bool, inline_macros: bool = True
) -> jinja2.Environment:
    """The notifications' environment; `inline_macros=False` keeps every macro a call (what
    the tests compare the inlined templates with, and a template author's traceback)."""
    env = _Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=html,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        cache_size=-1,  # a plain dict: a folder's templates are few, and an LRU's upkeep is not
        extensions=[_SharedSection],
    )
    filters: dict[str, Callable[..., Any]] = {
        "when": when,
        "day": day,
        "money": money,
        "filesize": filesize,
        "humanize": humanize,
        "payment": payment,
        "para": para,
        "nl2br": nl2br,
    }
    env.filters.update(filters)
    env.inlining = inline_macros
    return env
