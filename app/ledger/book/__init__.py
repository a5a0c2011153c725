"""A member's book in memory: the account, the lots an operation needs, and the pure rules that move them.

The account is the summary that keeps every operation's cost independent of the member's history:
its balances (available, pending, held) are counters, moved by exactly what the operation changed
on the lots it loaded; and it keeps the *front*, the first lots in spending order, so that a spend
or a hold loads only the lots that cover it and an earn loads no lot at all. `jifen ledger verify`
rebuilds the counters and the front from the lots. What the book writes back is summed up in
app.ledger.summary (the account) and app.ledger.entries (each entry).

`Book` is one object made of one part per concern, each a module of this package:
- base.py: the shared state (the account, the loaded lots and holds, the new entries), the
  balances, recording an entry, the guards and bounds;
- front.py: lot selection, the front of the spending order and allocating points from it;
- catchup.py: time, pending lots maturing, lots expiring, inactivity policies renewed;
- debt.py: refunds (reverse), a spend given back (restore), new lots paying debt first;
- holding.py: holds reserved, captured and released;
and here, the operations that use them all: credit (an earn, a positive adjustment), debit (a
spend, a negative adjustment), clear (清零) and extend. Only the ledger's unit of work
(app.ledger.unit) and its stores drive a Book: every points movement goes through that door.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId

from app.db import Document
from app.ledger import summary
from app.ledger.book.base import check_account_points, check_entry_points
from app.ledger.book.debt import Debt
from app.ledger.book.holding import Holding
from app.ledger.models import EntryKind, HoldStatus
from app.ledger.state import LIVE, HoldState, Request, expire_key

__all__ = ["Book"]


class Book(Holding, Debt):
    """One member's book: every operation on their points, applied in memory (see the module)."""

    def credit(
        self,
        kind: EntryKind,
        points: int,
        request: Request,
        *,
        earned_at: datetime,
        available_at: datetime | None,
        expires_at: datetime | None,
        policy: dict[str, Any],
        breakdown: list[Document] | None = None,
    ) -> Document:
        """An earn or a positive adjustment: a new lot, after paying any debt first."""
        check_entry_points(points)
        self._open()
        if kind is EntryKind.EARN:
            check_account_points(self.account.lifetime_earned + points)
        entry_id = ObjectId()
        lot = self._issue(
            points,
            entry_id,
            earned_at=earned_at,
            available_at=available_at,
            expires_at=expires_at,
            policy=policy,
        )
        if kind is EntryKind.EARN:
            self.account.lifetime_earned += points
            self._activity(earned_at)
        extra: dict[str, Any] = {}
        if breakdown:
            extra["breakdown"] = breakdown
        entry = self._record(
            kind,
            points,
            [(lot, points)],
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
            entry_id=entry_id,
            debt_change=-lot.debt_paid,
            occurred_at=earned_at,
            **extra,
        )
        if lot.status in LIVE and lot.expires_at is not None and lot.expires_at <= self.now:
            # Earned so long ago (a till's late batch) that its expiry has passed already: it
            # expires in the same operation, never counting as available (and never warned of).
            self.expired.append((lot, self._expire(lot, expire_key(lot.id), "points expired")))
        return entry

    def debit(self, kind: EntryKind, points: int, request: Request) -> Document:
        """A spend (REDEEM) or a negative adjustment: take from available lots in spending order.
        A frozen account spends nothing (AccountFrozen); an operator's adjustment still applies."""
        check_entry_points(points)
        self._open()
        if kind is EntryKind.REDEEM:
            self._not_frozen()
        shares = self._allocate(points)
        for lot, take in shares:
            lot.take(take)
        if kind is EntryKind.REDEEM:
            self.account.lifetime_redeemed += points
            self._activity()
        return self._record(
            kind,
            -points,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
        )

    def clear(self, active_holds: Iterable[HoldState], request: Request) -> Document:
        """清零: release every active hold, then take every remaining point of the member to zero."""
        for hold in active_holds:
            if hold.id in self.holds and self.holds[hold.id].status is not HoldStatus.ACTIVE:
                continue  # lapsed, released as the book was loaded (app.ledger.lapse)
            self.holds[hold.id] = hold
            self.release(hold)
        shares = [(lot, lot.free) for lot in self.lots.values() if lot.free > 0]
        total = 0
        for lot, take in shares:
            lot.take(take)
            lot.cleared += take
            total += take
        return self._record(
            EntryKind.CLEAR,
            -total,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
        )

    def extend(self, until: datetime, request: Request) -> Document:
        """Move the expiry of every live lot expiring before `until` to `until`."""
        self._open()
        # Only live lots move, and only they are listed: one that expired already (caught up
        # when the book was loaded) stays expired, and one expiring at `until` is not extended.
        was = {lot.id: lot.expires_at for lot in self.lots.values() if lot.status in LIVE}
        for cls in self.account.classes.values():
            if cls.expires_at < until:
                self._move_class(cls, until)
        for lot in self.lots.values():
            if lot.status in LIVE and lot.expires_at is not None and lot.expires_at < until:
                lot.expires_at = until
                lot.rekey()
        shares = [
            (lot, lot.free)
            for lot in self.lots.values()
            if lot.id in was and (before := was[lot.id]) is not None and before < until
        ]
        self.reset_front = True
        return self._record(
            EntryKind.EXTEND,
            0,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
            extended_to=until,
        )

    def account_document(self) -> Document:
        """The account's new state: counters moved by what changed, the front, what is due when
        (app.ledger.summary)."""
        return summary.account_document(self)
