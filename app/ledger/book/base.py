"""The state every part of a member's book shares, and the primitives they all use.

`BookBase` holds the account as loaded (a Balance), the lots and holds an operation loaded, the
entries it recorded, and the moves of the available, pending and held counters that the loaded
lots reported (app.ledger.state.LotState tells its book of each change): the balances are the
loaded account's plus those moves, never a sum over lots. `_record` appends an entry; the guards
refuse what a frozen or closed account may not do; the bounds keep points and totals in range.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.bounds import MAX_ACCOUNT_POINTS, MAX_ENTRY_POINTS
from app.db import Document
from app.ledger.entries import entry_document
from app.ledger.errors import AccountClosed, AccountFrozen, InvalidPoints, PointsLimitExceeded
from app.ledger.models import Balance, EntryKind, EntryMeta
from app.ledger.state import HoldState, LotState


class BookBase:
    """A member's book as every concern of it sees it (the parts: app.ledger.book)."""

    def __init__(self, account: Balance, lots: Iterable[LotState], now: datetime) -> None:
        self.account = account
        self.lots: dict[ObjectId, LotState] = {}
        self.holds: dict[ObjectId, HoldState] = {}
        self.entries: list[Document] = []
        self.now = now
        self.touched = False
        self.matured: list[LotState] = []
        self.expired: list[tuple[LotState, int]] = []
        self.renewed: dict[str, datetime] = {}  # inactivity classes whose lots' expiry moved
        self.pending_loaded = False  # every pending lot of the member is loaded
        self.whole = False  # every live lot of the member is loaded
        self.scanned: str | None = account.front_end  # the front is known up to here
        self.reset_front = False
        self.mass_beyond: dict[datetime, int] = {}  # free points of a dated instant past the front
        self.moves = [0, 0, 0]  # what the loaded lots' changes moved available, pending, held by
        self.add(lots)

    def add(self, lots: Iterable[LotState]) -> None:
        for lot in lots:
            if lot.id not in self.lots:
                self.lots[lot.id] = lot
                lot.book = self

    def moved(self, was: tuple[int, int, int], now: tuple[int, int, int]) -> None:
        for index in range(3):
            self.moves[index] += now[index] - was[index]

    # -- balances (the loaded account plus what this operation changed) -----------------------

    def available(self) -> int:
        return self.account.available + self.moves[0]

    def pending(self) -> int:
        return self.account.pending + self.moves[1]

    def held(self) -> int:
        return self.account.held + self.moves[2]

    def due(self, as_of: datetime) -> bool:
        due_at = self.account.due_at()
        return due_at is not None and due_at <= as_of

    # -- internals -----------------------------------------------------------------------------

    def _not_frozen(self) -> None:
        if self.account.frozen:
            raise AccountFrozen(self.account.member_id)

    def _open(self) -> None:
        """An erased member's ledger takes no new entry but a refund's reversal and 清零."""
        if self.account.closed:
            raise AccountClosed(self.account.member_id)

    def _record(
        self,
        kind: EntryKind,
        points: int,
        shares: list[tuple[LotState, int]],
        *,
        key: str,
        meta: EntryMeta,
        fingerprint: str | None = None,
        entry_id: ObjectId | None = None,
        debt_change: int = 0,
        occurred_at: datetime | None = None,
        **extra: Any,
    ) -> Document:
        self.touched = True
        entry = entry_document(
            entry_id or ObjectId(),
            self.account.member_id,
            kind,
            points,
            [(lot.id, take) for lot, take in shares],
            balance_after=self.available(),
            now=self.now,
            key=key,
            meta=meta,
            fingerprint=fingerprint,
            debt_change=debt_change,
            occurred_at=occurred_at,
            **extra,
        )
        self.entries.append(entry)
        return entry


def check_entry_points(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidPoints(points)
    if points > MAX_ENTRY_POINTS:
        raise PointsLimitExceeded("entry", MAX_ENTRY_POINTS, points)


def check_account_points(points: int) -> None:
    """A balance, debt or lifetime figure the operation would leave on the account."""
    if points > MAX_ACCOUNT_POINTS:
        raise PointsLimitExceeded("account", MAX_ACCOUNT_POINTS, points)
