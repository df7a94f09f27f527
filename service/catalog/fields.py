"""Reading one import record's fields, with errors that name the record, the field and the fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from service.clock import parse_instant
from service.domain.mailbox import is_addr_spec


class ImportError_(ValueError):
    """The import file is invalid; the message names the record and field and what to fix."""


class Field:
    """Reads one record's fields, naming the path in every error.

    The path (`orders[2] (Q7K2M9XA).bills[0]`) is put together only when an error
    names it: a big import reads tens of millions of fields and reports at most one.
    """

    def __init__(
        self, name: str, data: object, *, parent: Field | None = None, index: int | None = None
    ) -> None:
        self._name, self._parent, self._index = name, parent, index
        self._label: str | None = None
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ImportError_(f"{self.path}: expected an object, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data

    @property
    def path(self) -> str:
        path = self._name if self._parent is None else f"{self._parent.path}.{self._name}"
        if self._index is not None:
            path = f"{path}[{self._index}]"
        return path if self._label is None else f"{path} ({self._label})"

    def name(self, label: str) -> None:
        """Name the record in the paths of its errors from here on: `orders[2] (Q7K2M9XA)`."""
        self._label = label

    def text(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        value = self.data.get(name, default)
        if value is None:
            if required:
                raise ImportError_(f"{self.path}.{name}: missing; it is required")
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise ImportError_(f"{self.path}.{name}: expected a non-empty string, got {value!r}")
        return value.strip()

    def required(self, name: str) -> str:
        value = self.text(name)
        assert value is not None
        return value

    def decimal(self, name: str) -> Decimal:
        raw = self.data.get(name)
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise ImportError_(
                f'{self.path}.{name}: expected a decimal string like "19.95", got {raw!r}'
            )
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise ImportError_(f"{self.path}.{name}: {raw!r} is not a decimal amount") from None
        if not value.is_finite() or value < 0:
            raise ImportError_(
                f"{self.path}.{name}: {raw!r} must be a finite amount of zero or more"
            )
        return value

    def time(self, name: str) -> datetime:
        try:
            return parse_instant(self.required(name))
        except ValueError as e:
            raise ImportError_(f"{self.path}.{name}: {e}") from None

    def email(self, name: str, *, required: bool = True) -> str | None:
        """An address maildesk can send to (one mailbox, nothing that breaks an envelope)."""
        value = self.text(name, required=required)
        if value is None or (not required and not value):
            return None
        address = as_mailbox(value)
        return mailbox(f"{self.path}.{name}", value) if address is None else address

    def child(self, name: str, index: int | None = None) -> Field:
        value = self.data.get(name)
        if index is not None:
            assert isinstance(value, list)
            value = value[index]
        return Field(name, value, parent=self, index=index)

    def items(self, name: str, *, required: bool = True) -> list[Any]:
        value = self.data.get(name, [] if not required else None)
        if not isinstance(value, list):
            raise ImportError_(f"{self.path}.{name}: expected a list, got {value!r}")
        return value

    def integer(self, name: str, *, default: int, minimum: int = 0) -> int:
        raw = self.data.get(name, default)
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < minimum:
            raise ImportError_(
                f"{self.path}.{name}: expected a whole number of {minimum} or more, got {raw!r}"
            )
        return raw

    def boolean(self, name: str, *, default: bool | None) -> bool | None:
        raw = self.data.get(name, default)
        if raw is not None and not isinstance(raw, bool):
            raise ImportError_(f"{self.path}.{name}: expected true or false, got {raw!r}")
        return raw

    def choice(self, name: str, allowed: Sequence[str], *, default: str) -> str:
        value = self.text(name, required=False) or default
        if value not in allowed:
            raise ImportError_(f"{self.path}.{name}: {value!r} is not one of {', '.join(allowed)}")
        return value


def as_mailbox(value: str) -> str | None:
    """`value` as the lower-cased address it is, or None if it is not one mailbox."""
    address = value.strip().lower()
    return address if is_addr_spec(address) and "," not in address else None


def mailbox(path: str, value: str) -> str:
    """`value` as the lower-cased address it is, or an error naming the field and the fix."""
    address = as_mailbox(value)
    if address is None:
        raise ImportError_(
            f"{path}: {value!r} is not one email address like name@example.com; maildesk "
            "sends notifications there, so it must be a single mailbox"
        )
    return address
