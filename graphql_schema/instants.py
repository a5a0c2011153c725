"""The DateTime scalar: every instant the API reads or writes is aware UTC, cut to the millisecond.

MongoDB keeps instants to the millisecond, so an answer computed in memory (a purchase's
availableAt, from its occurredAt) and the same answer read back on a replay differed in their
sub-second digits. One precision in, one format out, for every field:

- read: an ISO 8601 date-time with a UTC offset (`Z` or `±hh:mm`), cut to the millisecond; a
  wall-clock time without an offset is refused (no zone to read it in), as is one that is no
  instant in UTC (`0001-01-01T00:00:00+14:00`);
- written: always `YYYY-MM-DDTHH:MM:SS.mmm+00:00`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.clock import to_millisecond

MAX_LENGTH = 64


def parse_instant(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        raise ValueError("a DateTime is an ISO 8601 string with a UTC offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.utcoffset() is None:
        raise ValueError(f"a DateTime needs a UTC offset (Z or +hh:mm): {value!r}")
    try:
        at = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"no instant in UTC: {value!r}") from None
    return to_millisecond(at)


def serialize_instant(value: datetime) -> str:
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return at.isoformat(timespec="milliseconds")


DATE_TIME: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    serialize=serialize_instant,
    parse_value=parse_instant,
    description="An instant: ISO 8601 with a UTC offset, to the millisecond "
    '("2026-01-15T08:00:00.000+00:00"); finer digits are cut.',
)
