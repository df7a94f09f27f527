"""Request bodies as JSON objects the rest of maildesk can hold, or a 400 that says why not.

`json.loads` alone accepts more than maildesk can use, and fails in ways that
become 500s: it recurses once per level of nesting (100,000 `[` raise
RecursionError), refuses integers over 4,300 digits with a bare ValueError,
reads `NaN`, `Infinity` and `1e999` as floats no amount or count can be, and
lets `"\\u0000"` and lone surrogates (`"\\ud800"`) through, which PostgreSQL
and SQLite refuse to store. `parse_object` turns each of these into
`InvalidJson` with a sentence for the sender, before any of it reaches a handler.

What this module must never do: read the body itself (its size is bounded
before it gets here), or return anything but a `dict` of checked values.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32
"""Objects and arrays inside one another; the import format needs 4."""
MAX_DIGITS = 18
"""Digits of an integer: every count and number maildesk takes fits, and so does a 64-bit column."""


class InvalidJson(ValueError):
    """The body cannot be used; the message says what to send instead."""


def parse_object(body: bytes) -> dict[str, Any]:
    """The JSON object in `body` (an empty body is `{}`), every value checked."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJson(
            f"the body is not UTF-8 text (byte {error.start} cannot be read); send JSON as UTF-8"
        ) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(
            text, parse_int=_integer, parse_float=_finite, parse_constant=_no_constant
        )
    except RecursionError:
        raise InvalidJson(_too_deep()) from None
    except json.JSONDecodeError as error:
        raise InvalidJson(f"the body is not valid JSON: {error}") from None
    # Valid JSON text holds no raw NUL (control characters must be escaped) and valid UTF-8
    # no surrogate, so only a `\u` escape can bring either in: without one, skip the strings.
    _check(data, texts="\\u" in text)
    if not isinstance(data, dict):
        raise InvalidJson(
            f'the body must be a JSON object, like {{"text": "…"}}, not {_kind(data)}'
        )
    return data


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise InvalidJson(
            f"a number in the body has more than {MAX_DIGITS} digits "
            f"({digits[:20]}…); no field takes one that large"
        )
    return int(digits)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson(f"numbers in the body must be finite; {text[:20]} is not")
    return value


def _no_constant(name: str) -> Any:
    raise InvalidJson(
        f"{name} is not a number JSON allows (NaN and Infinity are not); send a finite number"
    )


def check_value(data: Any) -> None:
    """Every string storable, every number within `MAX_DIGITS` and the nesting bounded: for
    JSON read another way (a stream), whose parser reads integers of any length."""
    _check(data, texts=True, numbers=True)


def _check(data: Any, *, texts: bool, numbers: bool = False) -> None:
    """Nesting within `MAX_DEPTH`, and (with `texts`) every string storable, keys too.

    Level by level with lists, not recursion: the point is to survive depth, and
    a 50 MB import is walked in a fraction of the time its parsing takes.
    """
    level = [data] if isinstance(data, (dict, list)) else []
    if texts and isinstance(data, str):
        _check_text(data)
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise InvalidJson(_too_deep())
        below: list[Any] = []
        for container in level:
            children = container.values() if isinstance(container, dict) else container
            if texts:
                if isinstance(container, dict):
                    for key in container:
                        _check_text(key)
                for child in children:
                    if isinstance(child, str):
                        _check_text(child)
            if numbers:
                for child in children:
                    if isinstance(child, int) and not isinstance(child, bool):
                        _integer(str(child))
            below += [child for child in children if isinstance(child, (dict, list))]
        level = below


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise InvalidJson(
            "a string in the body contains a NUL character (\\u0000), which cannot be stored; "
            "leave it out"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJson(
                "a string in the body contains a lone surrogate (like \\ud800), which is not "
                "text; send whole characters"
            ) from None


def _too_deep() -> str:
    return (
        f"the body is nested too deeply: objects and arrays may be nested at most "
        f"{MAX_DEPTH} levels"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "an array", str: "a string", bool: "true or false"}.get(type(value), "a number")
