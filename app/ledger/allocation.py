"""Pure lot arithmetic: taking points from lots in spending order, and the next expiry.

The spending order itself is the lots' `order` key (app.ledger.order); `allocate` takes the lots
already in that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar


class Portion(Protocol):
    """A lot as allocation sees it: its spendable points and when it expires."""

    @property
    def free(self) -> int: ...

    @property
    def expires_at(self) -> datetime | None: ...


P = TypeVar("P", bound=Portion)


def allocate(lots: Iterable[P], points: int) -> list[tuple[P, int]]:
    """Take `points` from the lots in the order given, skipping empty ones; ValueError if short.

    It stops at the lot that completes `points`: `lots` may be lazy, and is not read past it.
    """
    taken: list[tuple[P, int]] = []
    left = points
    if left <= 0:
        return taken
    for lot in lots:
        if lot.free <= 0:
            continue
        take = min(lot.free, left)
        taken.append((lot, take))
        left -= take
        if left == 0:
            break
    if left:
        raise ValueError(f"allocation short by {left} points")
    return taken


def next_expiry(lots: Sequence[P]) -> tuple[datetime, int] | None:
    """The soonest expiry instant among the lots' spendable points and how many points expire then."""
    soonest: datetime | None = None
    points = 0
    for lot in lots:
        if lot.free <= 0 or lot.expires_at is None:
            continue
        if soonest is None or lot.expires_at < soonest:
            soonest, points = lot.expires_at, lot.free
        elif lot.expires_at == soonest:
            points += lot.free
    return None if soonest is None else (soonest, points)
