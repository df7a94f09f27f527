"""Outside `service/adapters/`, maildesk uses only the public API of the adapted libraries.

A private name used anywhere else would be one the adapter tests do not
check, so a new release could change it without a test failing. This reads
every module of `service/` but the adapters (imports inside functions
included) and, for aiosmtpd, aiosmtplib, mail-parser, mail-parser-reply and
uvicorn, allows:

- importing the package itself and its documented public modules, and from
  them only the names they export (their `__all__`, or for a package
  without one, its top-level names that are neither underscored nor
  modules); attributes read from an imported package (`aiosmtplib.SMTP`)
  are held to the same list;
- subclassing their classes, but not overriding an underscored name of the
  base class, nor reading or setting `self._name` unless the subclass's own
  `__init__` sets it.

Undocumented names without an underscore (aiosmtplib's `SMTP.protocol`)
are beyond a syntactic check: the adapters' docstrings list them, and
review keeps them there.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.pins import ROOT

SERVICE = ROOT / "service"
ADAPTERS = SERVICE / "adapters"

PUBLIC_MODULES = {
    "aiosmtpd": {"aiosmtpd.smtp", "aiosmtpd.controller", "aiosmtpd.handlers", "aiosmtpd.lmtp"},
    "aiosmtplib": {"aiosmtplib"},
    "mailparser": {"mailparser"},
    "mailparser_reply": {"mailparser_reply"},
    "uvicorn": {"uvicorn"},
}
"""Per adapted library, the modules its documentation offers for import."""


def exported(module_name: str) -> set[str]:
    """The names `module_name` offers: its `__all__`, else its public non-module attributes."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is not None:
        return set(names)
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class _Reader:
    """One module's uses of the adapted libraries, as `violations` reports them."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.packages: dict[str, str] = {}  # local name -> adapted package it is bound to
        self.classes: dict[str, type] = {}  # local name -> adapted library's class it is bound to

    def imports(self, node: ast.Import) -> Iterator[str]:
        for alias in node.names:
            library = alias.name.partition(".")[0]
            if library not in PUBLIC_MODULES:
                continue
            if alias.name != library and alias.name not in PUBLIC_MODULES[library]:
                yield f"{self.where}:{node.lineno}: import {alias.name}"
            elif alias.name == library:
                self.packages[alias.asname or library] = library

    def imports_from(self, node: ast.ImportFrom) -> Iterator[str]:
        library = (node.module or "").partition(".")[0]
        if node.level or library not in PUBLIC_MODULES:
            return
        module_name = str(node.module)
        if module_name not in PUBLIC_MODULES[library] | {library}:
            yield f"{self.where}:{node.lineno}: from {module_name} import ..."
            return
        module, offered = importlib.import_module(module_name), exported(module_name)
        for alias in node.names:
            if alias.name not in offered:
                yield f"{self.where}:{node.lineno}: from {module_name} import {alias.name}"
            elif inspect.isclass(value := getattr(module, alias.name, None)):
                self.classes[alias.asname or alias.name] = value

    def attribute(self, node: ast.Attribute) -> Iterator[str]:
        if not isinstance(node.value, ast.Name) or node.value.id not in self.packages:
            return
        package = self.packages[node.value.id]
        if (
            node.attr not in exported(package)
            and f"{package}.{node.attr}" not in PUBLIC_MODULES[package]
        ):
            yield f"{self.where}:{node.lineno}: {node.value.id}.{node.attr}"

    def base_of(self, node: ast.ClassDef) -> type | None:
        """The adapted library's class `node` derives from, if it does."""
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in self.classes:
                return self.classes[base.id]
            if (
                isinstance(base, ast.Attribute)
                and isinstance(base.value, ast.Name)
                and base.value.id in self.packages
            ):
                found = getattr(importlib.import_module(self.packages[base.value.id]), base.attr)
                return found if inspect.isclass(found) else None
        return None

    def subclass(self, node: ast.ClassDef, base: type) -> Iterator[str]:
        """Underscored names of `base` a subclass overrides, reads or sets."""
        own: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                if _private(item.name) and hasattr(base, item.name):
                    yield f"{self.where}:{item.lineno}: {node.name}.{item.name} overrides"
                if item.name == "__init__":
                    own |= {
                        target.attr
                        for target in ast.walk(item)
                        if isinstance(target, ast.Attribute)
                        and isinstance(target.ctx, ast.Store)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    }
                elif _private(item.name):
                    own.add(item.name)
        for use in ast.walk(node):
            if (
                isinstance(use, ast.Attribute)
                and isinstance(use.value, ast.Name)
                and use.value.id == "self"
                and _private(use.attr)
                and use.attr not in own
            ):
                yield f"{self.where}:{use.lineno}: {node.name} uses self.{use.attr}"


def violations(source: str, where: str) -> Iterator[str]:
    """Each use in `source` (the module at `where`) of an adapted library's non-public name."""
    tree = ast.parse(source, where)
    reader = _Reader(where)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from reader.imports(node)
        elif isinstance(node, ast.ImportFrom):
            yield from reader.imports_from(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield from reader.attribute(node)
        elif isinstance(node, ast.ClassDef) and (base := reader.base_of(node)) is not None:
            yield from reader.subclass(node, base)


def outside_adapters() -> Iterator[Path]:
    for path in sorted(SERVICE.rglob("*.py")):
        if ADAPTERS not in path.parents:
            yield path


def test_service_outside_the_adapters_uses_only_public_names() -> None:
    found = [
        violation
        for path in outside_adapters()
        for violation in violations(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, (
        "private names of adapted libraries outside service/adapters/ (move each use into the "
        "library's adapter, list it in its docstring and check it in tests/adapters/):\n"
        + "\n".join(found)
    )


SUBCLASS = """
from aiosmtpd.smtp import SMTP

class Session(SMTP):
    def __init__(self, handler):
        self._mine = 0
        super().__init__(handler)

    def _reset_timeout(self, duration=None):
        self._mine += 1
"""


@pytest.mark.parametrize(
    "source",
    [
        "from mailparser.utils import get_addresses",
        "import mailparser_reply.constants",
        "from aiosmtpd.smtp import _Missing",
        "import aiosmtplib\naiosmtplib.protocol.SMTPProtocol",
        "import uvicorn as u\nu.protocols",
        "from uvicorn.protocols.http.h11_impl import H11Protocol",
        SUBCLASS,
        "import aiosmtplib\nclass C(aiosmtplib.SMTP):\n    def f(self):\n"
        "        self._connect_lock\n",
        "from aiosmtpd.smtp import SMTP\nclass S(SMTP):\n    async def f(self):\n"
        "        self._reader\n",
    ],
)
def test_the_check_sees_a_private_use(source: str) -> None:
    assert list(violations(source, "service/example.py")), f"the check missed {source!r}"


def test_the_check_lets_a_subclass_keep_its_own_underscored_names() -> None:
    source = SUBCLASS.replace("def _reset_timeout(self, duration=None)", "def _count(self)")
    assert list(violations(source, "service/example.py")) == []
