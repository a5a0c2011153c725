"""Relay conventions: the Node interface, generic connections, the `first` cap and keyset cursors.

Every list is a `Connection[T]` built by `connection()`, and every cursor is made and read by a
`Cursor` codec: a kind (so one list's cursor is refused by another) and a tuple of typed parts,
each checked on the way in. A cursor is the client's input: whatever it holds, decoding it yields
values the database can take (an int64, an ObjectId, an aware instant), or BAD_USER_INPUT.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import strawberry

from graphql_schema.errors import InvalidInput

MAX_FIRST = 100
MAX_CURSOR_CHARS = 512
INT64_MAX = 2**63 - 1  # what MongoDB stores; a bigger int raises OverflowError in the driver

T = TypeVar("T")
M = TypeVar("M")


@strawberry.interface
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id; never a raw database id.")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def page_size(first: int) -> int:
    """`first` must be 0..100: a client cannot ask for an unbounded page."""
    if first < 0 or first > MAX_FIRST:
        raise InvalidInput(f"first must be between 0 and {MAX_FIRST}", field="first")
    return first


def connection(
    items: Sequence[M],
    *,
    has_next: bool,
    after: str | None,
    cursor: Callable[[M], str],
    node: Callable[[M], T],
) -> Connection[T]:
    """One page of a list: each item's cursor and node, and where the page stands."""
    edges = [Edge(cursor=cursor(item), node=node(item)) for item in items]
    info = PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=info)


@dataclass(frozen=True)
class Part(Generic[T]):
    """One typed part of a cursor: how it is written to JSON and read back (ValueError if bad)."""

    dump: Callable[[T], str | int]
    load: Callable[[object], T]


def _load_count(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= INT64_MAX:
        raise ValueError("not a count")
    return raw


def _load_number(raw: object) -> int:
    number = _load_count(raw)
    if number < 1:
        raise ValueError("not a number from 1")
    return number


def _load_instant(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("not an instant")
    instant = datetime.fromisoformat(raw)
    if instant.tzinfo is None:
        raise ValueError("an instant needs its offset")
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


def _text(pattern: str) -> Callable[[object], str]:
    matcher = re.compile(pattern, re.DOTALL)

    def load(raw: object) -> str:
        if not isinstance(raw, str) or not matcher.fullmatch(raw):
            raise ValueError("not an id")
        return raw

    return load


COUNT: Part[int] = Part(dump=lambda n: n, load=_load_count)
NUMBER: Part[int] = Part(dump=lambda n: n, load=_load_number)  # 1, 2, 3...: an entry's number
INSTANT: Part[datetime] = Part(dump=lambda at: at.astimezone(UTC).isoformat(), load=_load_instant)
OBJECT_ID: Part[str] = Part(dump=lambda s: s, load=_text(r"[0-9a-f]{24}"))
KEY: Part[str] = Part(dump=lambda s: s, load=_text(r".{1,200}"))  # an id we did not make


@dataclass(frozen=True)
class Cursor:
    """Encodes and decodes one list's cursors: `[kind, part, ...]` as JSON in base64url."""

    kind: str
    parts: tuple[Part[Any], ...]

    def encode(self, *values: Any) -> str:
        dumped = [part.dump(value) for part, value in zip(self.parts, values, strict=True)]
        raw = json.dumps([self.kind, *dumped], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        """The cursor's typed parts; a malformed one, or one from another list, is BAD_USER_INPUT."""
        try:
            if len(cursor) > MAX_CURSOR_CHARS:
                raise ValueError("too long")
            padded = cursor + "=" * (-len(cursor) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(values, list) or values[:1] != [self.kind]:
                raise ValueError("another list's cursor")
            raw_parts = values[1:]
            if len(raw_parts) != len(self.parts):
                raise ValueError("wrong number of parts")
            return tuple(part.load(raw) for part, raw in zip(self.parts, raw_parts, strict=True))
        except (binascii.Error, ValueError):  # JSONDecodeError and UnicodeDecodeError included
            raise InvalidInput("malformed cursor", field="after") from None
