"""Lot selection: the front of the spending order, and allocating points from it (FIFO by expiry).

The account keeps its *front*: the first lots in spending order (app.ledger.order: soonest expiry
first, then oldest) with their free points, and how far that list is known to be complete
(`scanned`). A spend or a hold loads only the front lots that cover it; the store reads further
along the order (a refill, app.ledger.store) when the front runs short, and a member whose free
points all sit in the front never needs one. The allocation itself is the pure function
app.ledger.allocation.allocate over the front's lots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from app.ledger import order, summary
from app.ledger.allocation import allocate
from app.ledger.book.base import BookBase
from app.ledger.errors import InsufficientPoints
from app.ledger.models import FrontEntry
from app.ledger.state import LotState

FRONT_SIZE = 32  # lots kept in the account's front
FRONT_LOW = 8  # fewer than this (with more free points beyond) and the store refills it


class FrontNotLoaded(RuntimeError):
    """The store did not load the front lots an allocation needs (a bug, never a client error)."""


class Front(BookBase):
    def count_mass_beyond_front(self) -> None:
        """With every lot of the member in memory: the soonest instant's points past the front."""
        instant = self.dated_mass_open()
        if instant is None:
            return
        _, end = self.front_view()
        assert end is not None
        self.mass_beyond[instant] = sum(
            lot.available for lot in self.lots.values() if end < lot.order <= order.mass_end(end)
        )

    def in_scanned(self, key: str) -> bool:
        return self.scanned is None or key <= self.scanned

    def known(self) -> tuple[list[FrontEntry], str | None]:
        """Every free lot known to lead the spending order, and up to where (None: all of them):
        entries of unloaded lots as stored, loaded lots as they are now."""
        if self.reset_front:
            entries: list[FrontEntry] = []
        else:
            entries = [e for e in self.account.front if e.lot_id not in self.lots]
        entries += [
            FrontEntry(lot.order, lot.id, lot.available)
            for lot in self.lots.values()
            if lot.available > 0 and self.in_scanned(lot.order)
        ]
        entries.sort(key=lambda e: e.key)
        end = self.scanned
        if end is not None and sum(e.free for e in entries) == self.available():
            end = None  # every free point is in the front: nothing to look for past it
        return entries, end

    def front_view(self) -> tuple[list[FrontEntry], str | None]:
        """The front as the account keeps it: the first FRONT_SIZE of what is known."""
        entries, end = self.known()
        if len(entries) > FRONT_SIZE:
            entries = entries[:FRONT_SIZE]
            end = entries[-1].key
        return entries, end

    def needs_refill(self, points: int = 0) -> bool:
        """Whether the store must read more of the spending order before (or after) an operation."""
        if points:
            entries, end = self.known()
            return end is not None and sum(e.free for e in entries) < points
        entries, end = self.front_view()
        if end is None:
            return False
        if len(entries) < FRONT_LOW:
            return True
        return end < order.DATED + order.END and not any(
            e.key.startswith(order.DATED) for e in entries
        )

    def scan(self, upper: str, lots: Iterable[LotState]) -> None:
        """The store read every available lot with a key up to `upper`: extend the front to it."""
        self.add(lots)
        if self.scanned is not None and upper > self.scanned:
            self.scanned = upper

    def dated_mass_open(self) -> datetime | None:
        """The soonest dated instant, when the front may end inside it (its total needs a read)."""
        entries, end = self.front_view()
        first = summary.first_dated(entries)
        if first is None or end is None or order.mass_of(end) != order.mass_of(first.key):
            return None
        instant = order.expiry_of(first.key)
        assert instant is not None
        base = self.account.dated_next
        if base is not None and base[0] == instant and not self.reset_front:
            return None  # known, moved by deltas
        return None if instant in self.mass_beyond else instant

    def front_lots(self, points: int) -> tuple[str, str] | None:
        """The key range of the front lots that cover `points` (None when none are needed)."""
        entries, _ = self.known()
        if not entries or points <= 0:
            return None
        covered, last = 0, entries[0].key
        for entry in entries:
            covered += entry.free
            last = entry.key
            if covered >= points:
                break
        missing = [e for e in entries if e.key <= last and e.lot_id not in self.lots]
        if not missing:
            return None
        return missing[0].key, last

    def _allocate(self, points: int) -> list[tuple[LotState, int]]:
        available = self.available()
        if available < points:
            raise InsufficientPoints(available, points)
        try:
            return allocate(self._front_lots(), points)
        except ValueError:
            raise FrontNotLoaded(f"the known front holds fewer than {points} points") from None

    def _front_lots(self) -> Iterator[LotState]:
        """The known front's lots in spending order, as far as an allocation reads them."""
        entries, _ = self.known()
        for entry in entries:
            lot = self.lots.get(entry.lot_id)
            if lot is None:
                raise FrontNotLoaded(str(entry.lot_id))
            yield lot
