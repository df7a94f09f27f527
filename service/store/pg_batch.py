"""One PostgreSQL round trip for the writes of a unit of work that nobody reads back.

A funnel transaction writes a ticket, its comment and history, its timer,
its emails and the message that caused them: six statements, each a round
trip to the server (a socket write and a wake-up on both sides, the largest
part of a node's CPU a message). Their results are not read, so they need
not travel alone: inside a transaction, a write that returns nothing waits
here, and the next statement takes the waiting ones along as data-modifying
`WITH` clauses (`WITH w1 AS (INSERT …), w2 AS (UPDATE …) <that statement>`),
one statement and one round trip; the commit takes the last of them.

What may wait, so that one combined statement does what the statements did
one after another:
- an `INSERT … VALUES (…)` or an `UPDATE` with no `SELECT` or `FROM` in it
  (it reads no other table, so nothing another waiting write could have
  changed: the parts of one statement share one snapshot and do not see each
  other's rows);
- at most one waiting write a table: a second write to a table sends the
  waiting ones first, so no row is written twice by one statement;
- several rows (`executemany`) only for a plain `INSERT` (no `ON CONFLICT`),
  as one multi-row `VALUES`, and only a few (`MAX_ROWS`, `MAX_PARAMETERS`).
Foreign keys hold: PostgreSQL checks them at the end of the statement, when
every part has run. Anything else (a read, a `DELETE`, a lock) first sends
what waits, on its own or as the `WITH` of that statement when it is itself
a write that may be combined (an `INSERT … RETURNING id`). An error in a
waiting write surfaces at the statement that took it along, inside the same
transaction, which then fails as a whole as it would have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

MAX_ROWS = 16
"""Rows of one `executemany` that may wait, at most: a unit of work's history entries and
emails. More (an import's batches) go as before, pipelined by asyncpg under one text, rather
than as a multi-row text of their own for every count."""
MAX_PARAMETERS = 2000
"""Waiting parameters at most (PostgreSQL takes 65,535 a statement)."""

_WRITE = re.compile(r"\s*(INSERT\s+INTO|UPDATE)\s+(\w+)", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\b")
_VALUES = re.compile(r"\bVALUES\s*\(([^()]*)\)", re.IGNORECASE)


@dataclass(frozen=True)
class Write:
    """A write that may wait: its table, its text (`?` placeholders) and its arguments."""

    table: str
    sql: str
    args: tuple[object, ...]


def deferrable(sql: str, rows: Sequence[Sequence[object]]) -> Write | None:
    """`sql` for `rows` as one write that may wait, or None when it must go now."""
    if not rows or len(rows) > MAX_ROWS:
        return None
    args = tuple(a for row in rows for a in row)
    if len(args) > MAX_PARAMETERS:
        return None
    shaped = _shape(sql, len(rows))
    return None if shaped is None else Write(shaped[0], shaped[1], args)


@lru_cache(maxsize=512)
def _shape(sql: str, rows: int) -> tuple[str, str] | None:
    """(table, text for `rows` rows) of a write that may wait, else None; the statements
    are a few fixed texts, so each is looked at once."""
    found, upper = _WRITE.match(sql), sql.upper()
    if found is None or "SELECT" in upper or _FROM.search(upper):
        return None
    if rows > 1:
        values = _VALUES.search(sql)
        inserting = found.group(1).upper().startswith("INSERT")
        if not inserting or values is None or "ON CONFLICT" in upper:
            return None
        tuples = ", ".join(f"({values.group(1)})" for _ in range(rows))
        sql = f"{sql[: values.start()]}VALUES {tuples}{sql[values.end() :]}"
    return found.group(2).lower(), sql


class WriteBatch:
    """The writes waiting to go with the next statement of one transaction."""

    def __init__(self) -> None:
        self._waiting: list[Write] = []

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def holds(self, table: str) -> bool:
        return any(w.table == table for w in self._waiting)

    def add(self, write: Write) -> None:
        self._waiting.append(write)

    def take(self, last: Write | None = None) -> tuple[str, tuple[object, ...]]:
        """One statement for every waiting write, ending with `last` (or the last waiting one),
        and its arguments in placeholder order; nothing waits afterwards."""
        writes, self._waiting = self._waiting, []
        if last is not None:
            writes.append(last)
        *before, final = writes
        clauses = ", ".join(f"w{i} AS ({w.sql})" for i, w in enumerate(before, start=1))
        sql = f"WITH {clauses} {final.sql}" if before else final.sql
        return sql, tuple(a for w in writes for a in w.args)
