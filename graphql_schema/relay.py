"""Relay conventions: the Node interface, PageInfo, the `first` cap and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

import strawberry

from graphql_schema.errors import InvalidInput

MAX_FIRST = 100


@strawberry.interface
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id; never a raw database id.")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_size(first: int) -> int:
    """`first` must be 0..100: a client cannot ask for an unbounded page."""
    if first < 0 or first > MAX_FIRST:
        raise InvalidInput(f"first must be between 0 and {MAX_FIRST}", field="first")
    return first


def encode_cursor(kind: str, *parts: str | int | datetime) -> str:
    values = [p.astimezone(UTC).isoformat() if isinstance(p, datetime) else p for p in parts]
    raw = json.dumps([kind, *values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> list[str | int]:
    """The cursor's parts; a malformed one, or one from another list, is BAD_USER_INPUT."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("malformed cursor", field="after") from None
    if not isinstance(values, list) or not values or values[0] != kind:
        raise InvalidInput("malformed cursor", field="after")
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values[1:]):
        raise InvalidInput("malformed cursor", field="after")
    return values[1:]


def cursor_instant(value: str | int) -> datetime:
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("malformed cursor", field="after") from None
    if instant.tzinfo is None:
        raise InvalidInput("malformed cursor", field="after")
    return instant


def page_info(cursors: list[str], has_next: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
