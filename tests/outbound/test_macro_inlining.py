"""Small imported macros written into their callers: the same bytes as calling them."""

from __future__ import annotations

from pathlib import Path

import jinja2
import jinja2.runtime
import pytest
from markupsafe import Markup

from service.outbound.email_environment import email_environment
from service.outbound.render import Renderer
from tests.outbound.samples import ALL_KINDS, PARTIES, sample_context


@pytest.fixture(scope="module")
def renderers() -> tuple[Renderer, Renderer]:
    return Renderer(), Renderer(inline_macros=False)


@pytest.mark.parametrize("party", PARTIES)
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_reads_the_same_as_with_every_macro_called(
    renderers: tuple[Renderer, Renderer], kind: str, party: str
) -> None:
    inlined, called = renderers
    context = sample_context(kind, party)
    assert inlined.render(kind, context, {}) == called.render(kind, context, {})


def test_the_notification_macros_are_inlined() -> None:
    environment = email_environment(Renderer().templates_dir, html=True)
    layout = environment.loader.get_source(environment, "email/_layout.html")[0]  # type: ignore[union-attr]
    code = environment.compile(layout, "email/_layout.html", raw=True)
    assert "l_0_row" in code  # imported, as written
    assert "context.call(l_0_row" not in code and "context.call(l_0_heading" not in code


MACROS = """\
{% macro plain(a, b=2) -%}<{{ a }}|{{ b }}>{%- endmacro %}
{% macro loops(items) %}{% for i in items %}{{ loop.index }}{{ i }}{% endfor %}{% endmacro %}
{% macro reads_outside(a) -%}{{ a }}{{ outside }}{%- endmacro %}
{% macro sets(a) -%}{% set x = a * 2 %}{{ x }}{%- endmacro %}
{% macro needs(a, b) -%}{{ a }}{{ b }}{%- endmacro %}
"""

CALLERS = {
    "arguments by position, keyword and default": (
        '{% from "m" import plain %}{{ plain(1) }}{{ plain(b=3, a="<&>") }}{{ plain(1, 5) }}',
        {},
    ),
    "its own loop inside the caller's": (
        '{% from "m" import loops %}{% for i in "xy" %}{{ loops([i, loop.index]) }}{% endfor %}',
        {},
    ),
    "a name of the caller's is not the macro's": (
        '{% from "m" import reads_outside %}{{ reads_outside(1) }}',
        {"outside": "caller's"},
    ),
    "a set inside the macro": ('{% from "m" import sets %}{% set x = 5 %}{{ sets(1) }}{{ x }}', {}),
    "the imported name rebound": (
        '{% from "m" import plain %}{{ plain(1) }}{% set plain = "rebound" %}{{ plain }}',
        {},
    ),
    "under an alias, among other output": (
        '{% from "m" import plain as p %}a{{ p(1) }}b{{ p(2)|upper }}c',
        {},
    ),
    "a parameter named like the caller's": (
        '{% from "m" import plain %}{% set a = "outer" %}{{ plain(a ~ "!") }}{{ a }}',
        {},
    ),
}


@pytest.mark.parametrize("autoescape", [False, True])
@pytest.mark.parametrize(("caller", "variables"), CALLERS.values(), ids=CALLERS.keys())
def test_a_call_and_its_inlined_body_read_the_same(
    tmp_path: Path, autoescape: bool, caller: str, variables: dict[str, str]
) -> None:
    (tmp_path / "m").write_text(MACROS)
    (tmp_path / "t").write_text(caller)
    outputs = []
    for inline in (True, False):
        environment = email_environment(tmp_path, html=autoescape, inline_macros=inline)
        try:
            outputs.append(environment.get_template("t").render(variables))
        except jinja2.UndefinedError as error:
            outputs.append(f"undefined: {error}")
    assert outputs[0] == outputs[1]


def test_a_missing_argument_is_still_the_macros_error(tmp_path: Path) -> None:
    (tmp_path / "m").write_text(MACROS)
    (tmp_path / "t").write_text('{% from "m" import needs %}{{ needs(1) }}')
    for inline in (True, False):
        environment = email_environment(tmp_path, html=False, inline_macros=inline)
        with pytest.raises(jinja2.UndefinedError, match="parameter 'b' was not provided"):
            environment.get_template("t").render()


def test_a_missing_macro_template_fails_when_imported_as_before(tmp_path: Path) -> None:
    (tmp_path / "t").write_text('{% from "nowhere" import plain %}{{ plain(1) }}')
    template = email_environment(tmp_path, html=False).get_template("t")
    with pytest.raises(jinja2.TemplateNotFound):
        template.render()


def test_calls_read_the_same_through_the_direct_path_for_dict_and_str_methods() -> None:
    """`d.get(…)` and `s.strip(…)` skip Jinja's call dispatch, in and out of loops and
    blocks; a `pass_context` callable, a subclass's method and a missing key still go
    Jinja's way."""
    environment = email_environment(Path("."), html=True)

    @jinja2.pass_context
    def party(context: jinja2.runtime.Context) -> str:
        return str(context["party"])

    source = (
        '{{ d.get("a") }}|{{ d.get("zz", "dflt") }}|{{ s.strip(" ") }}|{{ m.strip() }}|'
        '{% for i in [1, 2] %}{{ d.get("a") }}{{ who() }}{% endfor %}|'
        "{% block b %}{{ s.ljust(5) }}.{{ who() }}{% endblock %}|{{ d.zz is undefined }}"
    )
    context = {
        "d": {"a": "<x>"},
        "s": " y ",
        "m": Markup(" <b> "),
        "party": "vendor",
    }
    environment.globals["who"] = party
    rendered = environment.from_string(source).render(context)
    assert rendered == "&lt;x&gt;|dflt|y|<b>|&lt;x&gt;vendor&lt;x&gt;vendor| y   .vendor|True"
