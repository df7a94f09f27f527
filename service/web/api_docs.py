"""A readable API reference at /api/v1/docs, drawn from the OpenAPI document itself.

Server-rendered from `service.web.openapi.DOCUMENT` (the same document
/api/v1/openapi.json serves), with no script and nothing from a CDN: it ships
in the package, works offline, and cannot say something the machine-readable
document does not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from service.web.openapi import DOCUMENT
from service.web.rendering import PageRenderer

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Field:
    """One parameter or body field of an endpoint, as the reference lists it."""

    name: str
    where: str
    kind: str
    required: bool


@dataclass(frozen=True)
class Endpoint:
    """One method and path of the API, as the reference shows it."""

    method: str
    path: str
    summary: str
    fields: tuple[Field, ...]
    answers: tuple[tuple[str, str], ...]

    @property
    def anchor(self) -> str:
        cleaned = "".join(c if c.isalnum() else "-" for c in self.path.strip("/"))
        return f"{self.method.lower()}-{cleaned}"


def endpoints(document: dict[str, Any] = DOCUMENT) -> list[Endpoint]:
    found = []
    for path, operations in document["paths"].items():
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            found.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    fields=(*_parameters(operation), *_body_fields(operation)),
                    answers=tuple(
                        (code, answer.get("description", ""))
                        for code, answer in operation.get("responses", {}).items()
                    ),
                )
            )
    return found


def schemas(document: dict[str, Any] = DOCUMENT) -> list[tuple[str, list[Field]]]:
    """Each named shape and its fields, as the reference lists them."""
    listed = []
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        required = set(schema.get("required", ()))
        fields = [
            Field(field, "", kind(spec), field in required)
            for field, spec in schema.get("properties", {}).items()
        ]
        listed.append((name, fields))
    return listed


def kind(schema: dict[str, Any]) -> str:
    """A schema in a few words: `Ticket`, `one of refund, cancelation, support`, …"""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(kind(s) for s in schema.get("oneOf") or schema["anyOf"])
    types = schema.get("type", "any")
    if isinstance(types, list):
        return " or ".join(str(t) for t in types)
    if types == "array":
        return f"list of {kind(schema.get('items', {}))}"
    return str(types)


def _parameters(operation: dict[str, Any]) -> list[Field]:
    return [
        Field(p["name"], p["in"], kind(p.get("schema", {})), bool(p.get("required")))
        for p in operation.get("parameters", ())
    ]


def _body_fields(operation: dict[str, Any]) -> list[Field]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    required = set(schema.get("required", ()))
    return [
        Field(name, "body", kind(spec), name in required)
        for name, spec in schema.get("properties", {}).items()
    ]


def api_docs(pages: PageRenderer) -> Callable[[Request], Awaitable[Response]]:
    async def show(request: Request) -> Response:
        return pages.render(
            request,
            "web/api_docs.html",
            info=DOCUMENT["info"],
            endpoints=endpoints(),
            schemas=schemas(),
        )

    return show
