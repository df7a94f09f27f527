"""Small imported macros written into the templates that call them, when those are compiled.

A notification calls about twenty macros (`row`, `heading`, `attachments`),
and a Jinja macro call costs ~3 µs of argument handling and call dispatch,
whatever the macro does: a fifth of rendering an email. Here, when a
template is compiled, each `{{ m(a, b) }}` that is a whole output of its own
and calls a macro imported with `{% from "x" import m %}` becomes the
macro's body inside `{% with p=a, q=b %}…{% endwith %}`: the arguments are
evaluated once, as for the call, and the body sees them under the
parameters' names, as in the macro.

Only what reads exactly as the call is rewritten; anything else stays a call:

- the macro's body uses only its parameters, the names its own `{% for %}`
  loops bind (and their `loop`), filters and tests, and only plain
  expressions, `if`, `for` and output (no `set`, no `caller`, no nested
  macro, no import or include), so it cannot see the caller's names;
- its defaults are constants; every parameter without one is given;
- the calling template binds the imported name nowhere else (no `set`,
  loop variable, parameter or second import of that name);
- the environment's autoescaping is one setting for every template, so the
  body escapes inlined exactly as it would in the macro (whose output is
  then marked safe and written as is).

The templates stay as they are written; tests render every kind for both
parties with and without this and compare the bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import jinja2
from jinja2 import nodes

_PLAIN = (
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.For,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Call,
    nodes.Keyword,
    nodes.Filter,
    nodes.Test,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.BinExpr,
    nodes.UnaryExpr,
    nodes.Concat,
    nodes.Tuple,
    nodes.List,
    nodes.Dict,
    nodes.Pair,
)
"""The node types an inlined body may hold: expressions, output, `if` and `for`."""


def inline_macros(environment: jinja2.Environment, template: nodes.Template) -> nodes.Template:
    """`template` with the calls described above replaced by the macros' bodies (in place)."""
    if callable(environment.autoescape):
        return template
    macros = _imported_macros(environment, template)
    for name in _bound_elsewhere(template, macros):
        del macros[name]
    if macros:
        for node in [template, *template.find_all(nodes.Node)]:
            for field, value in node.iter_fields():
                if isinstance(value, list) and any(isinstance(v, nodes.Output) for v in value):
                    setattr(node, field, _inlined(value, macros))
    return template


def _imported_macros(
    environment: jinja2.Environment, template: nodes.Template
) -> dict[str, nodes.Macro]:
    """The inlinable macros the template imports at its top level, by the name it uses."""
    found: dict[str, nodes.Macro] = {}
    for statement in template.body:
        if not isinstance(statement, nodes.FromImport) or statement.with_context:
            continue
        if not isinstance(statement.template, nodes.Const) or environment.loader is None:
            continue
        source_name = statement.template.value
        try:
            source, _, _ = environment.loader.get_source(environment, source_name)
            parsed = environment.parse(source, source_name)
        except jinja2.TemplateError:
            continue  # a missing or broken template fails where it did: when imported
        defined = {m.name: m for m in parsed.body if isinstance(m, nodes.Macro)}
        for entry in statement.names:
            name, alias = entry if isinstance(entry, tuple) else (entry, entry)
            macro = defined.get(name)
            if macro is not None and _inlinable(macro):
                found[alias] = macro
    return found


def _inlinable(macro: nodes.Macro) -> bool:
    if not all(_constant(default) for default in macro.defaults):
        return False
    parameters = {argument.name for argument in macro.args}
    return all(_reads_only(statement, parameters) for statement in macro.body)


def _constant(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const):
        return True
    return isinstance(node, (nodes.Tuple, nodes.List)) and all(_constant(i) for i in node.items)


def _reads_only(node: nodes.Node, bound: set[str]) -> bool:
    """Whether `node` is plain (`_PLAIN`) and reads no name but `bound` and its loops' own."""
    if not isinstance(node, _PLAIN):
        return False
    if isinstance(node, nodes.Name):
        return node.ctx == "load" and node.name in bound
    if isinstance(node, nodes.For):
        target = node.target
        targets = [target] if isinstance(target, nodes.Name) else getattr(target, "items", None)
        if node.recursive or not targets or not all(isinstance(t, nodes.Name) for t in targets):
            return False
        inner = bound | {"loop"} | {t.name for t in targets}
        return (
            _reads_only(node.iter, bound)
            and all(_reads_only(child, inner) for child in node.body)
            and all(_reads_only(child, bound) for child in node.else_)
            and (node.test is None or _reads_only(node.test, inner))
        )
    return all(_reads_only(child, bound) for child in node.iter_child_nodes())


def _bound_elsewhere(template: nodes.Template, macros: dict[str, nodes.Macro]) -> set[str]:
    """The imported names the template also binds another way (or imports twice)."""
    bound = {
        name.name
        for name in template.find_all(nodes.Name)
        if name.ctx in ("store", "param") and name.name in macros
    }
    bound |= {m.name for m in template.find_all(nodes.Macro) if m.name in macros}
    imported: list[str] = []
    for statement in template.find_all((nodes.FromImport, nodes.Import)):
        if isinstance(statement, nodes.Import):
            imported.append(statement.target)
        elif isinstance(statement, nodes.FromImport):
            imported += [e[1] if isinstance(e, tuple) else e for e in statement.names]
    return bound | {name for name in macros if imported.count(name) != 1}


def _inlined(statements: Sequence[nodes.Node], macros: dict[str, nodes.Macro]) -> list[nodes.Node]:
    result: list[nodes.Node] = []
    for statement in statements:
        if isinstance(statement, nodes.Output):
            result += _split(statement, macros)
        else:
            result.append(statement)
    return result


def _split(output: nodes.Output, macros: dict[str, nodes.Macro]) -> Iterable[nodes.Node]:
    """`output`, with each inlinable call among its parts written as the macro's body."""
    pending: list[nodes.Expr] = []
    for part in output.nodes:
        body = _expanded(part, macros)
        if body is None:
            pending.append(part)
            continue
        if pending:
            yield nodes.Output(pending, lineno=output.lineno)
            pending = []
        yield body
    if pending:
        yield nodes.Output(pending, lineno=output.lineno)


def _expanded(part: nodes.Expr, macros: dict[str, nodes.Macro]) -> nodes.With | None:
    if not (
        isinstance(part, nodes.Call)
        and isinstance(part.node, nodes.Name)
        and part.node.name in macros
        and part.dyn_args is None
        and part.dyn_kwargs is None
    ):
        return None
    macro = macros[part.node.name]
    names = [argument.name for argument in macro.args]
    given = [keyword.key for keyword in part.kwargs]
    if len(part.args) > len(names) or not set(given) <= set(names[len(part.args) :]):
        return None
    if len(set(given)) != len(given):
        return None
    values: dict[str, nodes.Expr] = dict(zip(names, part.args, strict=False))
    values |= {keyword.key: keyword.value for keyword in part.kwargs}
    first_default = len(names) - len(macro.defaults)
    for index, name in enumerate(names):
        if name not in values:
            if index < first_default:
                return None  # a missing argument is the macro's error to raise, as a call
            values[name] = cast(nodes.Expr, _copy(macro.defaults[index - first_default]))
    lineno = part.lineno
    targets = [nodes.Name(name, "param", lineno=lineno) for name in names]
    body = [_copy(statement) for statement in macro.body]
    return nodes.With(targets, [values[name] for name in names], body, lineno=lineno)


def _copy(node: nodes.Node) -> nodes.Node:
    """A deep copy, so each call site owns its nodes (the compiler annotates them)."""
    fields: dict[str, Any] = {}
    for field, value in node.iter_fields():
        if isinstance(value, nodes.Node):
            fields[field] = _copy(value)
        elif isinstance(value, list):
            fields[field] = [_copy(v) if isinstance(v, nodes.Node) else v for v in value]
        else:
            fields[field] = value
    copied = type(node).__new__(type(node))
    for field, value in fields.items():
        setattr(copied, field, value)
    for attribute in node.attributes:
        setattr(copied, attribute, getattr(node, attribute))
    copied.environment = node.environment
    return copied
