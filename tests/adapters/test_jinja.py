"""`service.adapters.jinja` against the Jinja2 installed: the keywords its generated code adds.

`DirectMethodContext` calls a dict's or a string's method itself and drops
the scope variables Jinja's generated code passes to `context.call` inside
loops and blocks. If a release passed another name, a plain `order.get(…)`
inside a loop would fail with an unexpected keyword; this compiles such a
template and names what changed. What the context renders is tested with
the templates (`tests/outbound/`).
"""

from __future__ import annotations

import re

import jinja2

from service.adapters.jinja import GENERATED_CALL_KEYWORDS, DirectMethodContext
from tests.adapters.pins import assert_installed_in_pinned_series

SOURCE = (
    "{% for x in xs %}{{ d.get(x) }}{% endfor %}"
    "{% block b %}{{ d.get('k') }}{% endblock %}{{ d.get('k') }}"
)


def test_jinja_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("Jinja2", "service/adapters/jinja.py")


def test_the_generated_calls_pass_only_the_keywords_the_context_drops() -> None:
    code = jinja2.Environment().compile(SOURCE, raw=True)
    passed = set(re.findall(r"context\.call\(.*?, (_\w+)=", code))
    assert passed == set(GENERATED_CALL_KEYWORDS), passed


def test_a_template_renders_the_same_with_the_direct_context() -> None:
    plain = jinja2.Environment()
    direct = jinja2.Environment()
    direct.context_class = DirectMethodContext
    values = {"xs": ["a", "z"], "d": {"a": 1, "k": "v"}}
    assert direct.from_string(SOURCE).render(values) == plain.from_string(SOURCE).render(values)
    assert direct.from_string(SOURCE).render(values) == "1Nonevv"
