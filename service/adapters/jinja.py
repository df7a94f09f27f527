"""What maildesk takes from Jinja2 beyond its public API.

`Context.call` and `Environment.context_class` are documented; what is not is
how Jinja's generated code calls it: inside a loop or a block it passes the
variables of that scope as keyword arguments (`_loop_vars=…`, `_block_vars=…`,
Jinja 3.1's code generator), which Jinja's own `call` takes out again for a
callable that does not ask for the context. `DirectMethodContext` calls plain
methods itself, so it must take out the same two names; they are
`GENERATED_CALL_KEYWORDS`, and `tests/adapters/test_jinja.py` compiles a
template and fails, naming them, if a release passes anything else.
"""

from __future__ import annotations

import types
from typing import Any

import jinja2.runtime

GENERATED_CALL_KEYWORDS = ("_block_vars", "_loop_vars")
"""What Jinja's generated code adds to `context.call(…)` inside blocks and loops."""

_PLAIN_SELVES = (dict, str)


class DirectMethodContext(jinja2.runtime.Context):
    """Jinja's render context, calling the methods of plain dicts and strings directly.

    Every call in a template goes through `Context.call`, which asks the
    callable (and its `__call__`) whether it wants the context passed, with
    `hasattr`s that fail, and catches `StopIteration`: about 2 µs a call, and
    an email makes about twenty calls, nearly all `order.get(…)`,
    `vendor.get(…)` or `text.strip(…)`. A bound method of a built-in dict or
    str never takes the context (no attribute can be set on it) and never
    raises `StopIteration`, so it is called as Jinja would end up calling it;
    anything else (macros, filters, other objects) goes through Jinja's `call`.
    """

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if type(__obj) is types.BuiltinMethodType and type(__obj.__self__) in _PLAIN_SELVES:
            if kwargs:  # the scope's variables, see GENERATED_CALL_KEYWORDS
                for name in GENERATED_CALL_KEYWORDS:
                    kwargs.pop(name, None)
            return __obj(*args, **kwargs)
        return super().call(__obj, *args, **kwargs)
