"""Pure lot arithmetic: which lots a spend takes from (soonest expiry first, then oldest) and the next expiry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

NEVER = datetime.max.replace(tzinfo=UTC)


class Portion(Protocol):
    """A lot as allocation sees it: its spendable points and when it expires."""

    @property
    def free(self) -> int: ...

    @property
    def expires_at(self) -> datetime | None: ...

    @property
    def earned_at(self) -> datetime: ...

    @property
    def order_id(self) -> str: ...


P = TypeVar("P", bound=Portion)


def spending_order(lots: Iterable[P]) -> list[P]:
    """Lots with spendable points, soonest expiry first (never-expiring last), then oldest, then by id."""
    return sorted(
        (lot for lot in lots if lot.free > 0),
        key=lambda lot: (lot.expires_at or NEVER, lot.earned_at, lot.order_id),
    )


def allocate(lots: Iterable[P], points: int) -> list[tuple[P, int]]:
    """Take `points` from the lots in spending order; the caller has checked there are enough."""
    taken: list[tuple[P, int]] = []
    left = points
    for lot in spending_order(lots):
        if left == 0:
            break
        take = min(lot.free, left)
        taken.append((lot, take))
        left -= take
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
