"""Holds in the book: points reserved for an unfinished checkout, then captured or released.

A hold reserves portions of specific lots (lot.held), so held points are neither spendable nor
expirable: a lot that expires while part of it is held keeps that part (status expired,
remaining = held) until the hold is captured (redeemed as the checkout was promised) or released
(then it expires, once, under its own key). So available = Σ (remaining − held) over available
lots, and held = Σ held over all lots.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId

from app.db import Document
from app.ledger.book.base import BookBase, check_entry_points
from app.ledger.book.catchup import CatchUp
from app.ledger.book.front import Front
from app.ledger.errors import CaptureExceedsHold, HoldNotActive
from app.ledger.models import EntryKind, EntryMeta, HoldStatus, LotStatus
from app.ledger.state import LIVE, HoldState, LotState, Request, expire_key


class Holding(Front, CatchUp, BookBase):
    def hold(self, points: int, ttl: timedelta, request: Request) -> HoldState:
        check_entry_points(points)
        self._not_frozen()
        shares = self._allocate(points)
        for lot, take in shares:
            lot.held += take
            lot.dirty = True
        hold = HoldState(
            id=ObjectId(),
            member_id=self.account.member_id,
            points=points,
            status=HoldStatus.ACTIVE,
            expires_at=self.now + ttl,
            created_at=self.now,
            lots=[(lot.id, take) for lot, take in shares],
            reference=request.meta.reference,
            idempotency_key=request.key,
            request_hash=request.fingerprint,
            new=True,
        )
        self.holds[hold.id] = hold
        self.touched = True
        due = self.account.hold_due
        self.account.hold_due = hold.expires_at if due is None else min(due, hold.expires_at)
        return hold

    def capture(self, hold: HoldState, points: int | None, request: Request) -> Document:
        """Redeem all or part of a hold; the rest goes back (or expires, if its lot expired meanwhile).
        A frozen account captures nothing (AccountFrozen): a hold made before the member was
        suspended is only released."""
        _check_active(hold, self.now)
        self._not_frozen()
        points = hold.points if points is None else points
        check_entry_points(points)
        if points > hold.points:
            raise CaptureExceedsHold(hold.points, points)
        left = points
        shares: list[tuple[LotState, int]] = []
        for lot_id, reserved in hold.lots:
            take = min(reserved, left)
            left -= take
            lot = self.lots[lot_id]
            lot.held -= reserved
            if take:
                lot.remaining -= take
                shares.append((lot, take))
            if lot.remaining == 0 and lot.status is LotStatus.AVAILABLE:
                lot.status = LotStatus.EXHAUSTED
            lot.dirty = True
        hold.captured = points
        self.account.lifetime_redeemed += points
        self._activity()
        entry = self._record(
            EntryKind.REDEEM,
            -points,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
            hold_id=hold.id,
        )
        self._close(hold, HoldStatus.CAPTURED, [(lot.id, take) for lot, take in shares])
        hold.capture_entry_id = entry["_id"]
        return entry

    def release(self, hold: HoldState, status: HoldStatus = HoldStatus.RELEASED) -> None:
        """Give a hold's points back; a portion whose lot expired meanwhile expires now, once."""
        for lot_id, reserved in hold.lots:
            lot = self.lots[lot_id]
            lot.held -= reserved
            lot.dirty = True
        self._close(hold, status, [])

    def _close(
        self, hold: HoldState, status: HoldStatus, consumed: list[tuple[ObjectId, int]]
    ) -> None:
        hold.status = status
        hold.closed_at = self.now
        hold.dirty = self.touched = True
        taken = dict(consumed)
        for lot_id, reserved in hold.lots:
            lot = self.lots[lot_id]
            back = reserved - taken.get(lot_id, 0)
            if not back:
                continue
            if lot.status is LotStatus.EXPIRED:
                lot.remaining -= back
                lot.expired += back
                self.account.lifetime_expired += back
                self._record(
                    EntryKind.EXPIRE,
                    -back,
                    [(lot, back)],
                    key=expire_key(lot.id, hold.id),
                    meta=EntryMeta(actor="system", description="held points expired on release"),
                    hold_id=hold.id,
                    expired_at=lot.expires_at,
                )
            elif lot.status in LIVE and lot.expires_at is not None and lot.expires_at <= self.now:
                # Fully held when its expiry passed, so nothing caught it up: it expires now.
                self._expire(
                    lot, expire_key(lot.id), "held points expired on release", at_expiry=False
                )


def _check_active(hold: HoldState, now: datetime) -> None:
    if hold.status is not HoldStatus.ACTIVE:
        raise HoldNotActive(str(hold.id), hold.status.value)
    if hold.expires_at <= now:
        raise HoldNotActive(str(hold.id), HoldStatus.EXPIRED.value)
