"""What a new program version changes: field paths with the old and the new value. Pure.

Both sides are compared in one canonical JSON form (Decimals as normalized strings, instants
as ISO text in UTC), the version stamp left out, so "identical to the current version" means
the same rules whatever the file's spelling (2 or "2.00" for a multiplier). Lists are compared position by position,
as the validation paths name them (`earn.rules[2].multiplier`); a longer or shorter list shows
its added or removed items with a missing side (None).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.program.models import Program
from app.program.validation import STAMP_FIELDS

MISSING: Any = None


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    before: Any  # JSON value; None where the field or item did not exist
    after: Any

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.before)} → {_show(self.after)}"


def config_of(program: Program) -> dict[str, Any]:
    """The program's rules in JSON form, without its version stamp: one spelling per value
    (Decimal 1.00 is "1", an instant is ISO text in UTC), so equal rules compare equal."""
    config: dict[str, Any] = _canonical(program.model_dump(exclude=set(STAMP_FIELDS)))
    return config


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def diff_programs(before: Program | None, after: Program) -> list[Change]:
    """Every field that differs between two programs (all of `after` if there is none before)."""
    return list(_walk("", {} if before is None else config_of(before), config_of(after)))


def _walk(path: str, before: Any, after: Any) -> Iterator[Change]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys(), key=str):
            yield from _walk(f"{path}.{key}" if path else str(key), before.get(key), after.get(key))
    elif isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            old = before[index] if index < len(before) else MISSING
            new = after[index] if index < len(after) else MISSING
            yield from _walk(f"{path}[{index}]", old, new)
    elif before != after:
        yield Change(path, before, after)


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)
