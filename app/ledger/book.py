"""A member's book in memory: the account and every lot still holding points, and the pure rules that move them.

Services load a book inside a transaction, apply one operation here (no I/O), and save what changed.
The account's balances are recomputed from the lots on save, so they are exact by construction.
Every operation first catches the book up with the clock: pending lots whose return window has
passed become available and lots whose expiry has passed expire (lazily, with the same
deterministic entry keys the expiry job uses), so no spend ever uses points that have expired.

A lot that expires while part of it is held keeps that part (status expired, remaining = held)
until the hold is captured (redeemed as promised) or released (then it expires, once, under
its own key). So available = Σ (remaining − held) over available lots, and held = Σ held over
all lots = Σ points of active holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.db import Document
from app.ledger.allocation import allocate, next_expiry
from app.ledger.errors import (
    CaptureExceedsHold,
    HoldNotActive,
    InsufficientPoints,
    InvalidPoints,
    ReversalExceedsEarn,
)
from app.ledger.models import EntryKind, EntryMeta, HoldStatus, LotStatus
from app.program.expiry import add_local_days, zone_of

LIVE = (LotStatus.PENDING, LotStatus.AVAILABLE)


def expire_key(lot_id: ObjectId, hold_id: ObjectId | None = None) -> str:
    """The one ledger key under which a lot (or a held portion of it) expires: it can expire only once."""
    return f"ledger:expire:{lot_id}" if hold_id is None else f"ledger:expire:{lot_id}:{hold_id}"


@dataclass(eq=False)
class LotState:
    id: ObjectId
    member_id: str
    amount: int
    remaining: int
    status: LotStatus
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    policy: dict[str, Any]
    source_entry_id: ObjectId
    held: int = 0
    reversed: int = 0
    debt_paid: int = 0
    new: bool = False
    dirty: bool = False

    @property
    def free(self) -> int:
        """Points of a live lot neither consumed nor reserved by a hold."""
        return self.remaining - self.held if self.status in LIVE else 0

    @property
    def order_id(self) -> str:
        return str(self.id)

    @classmethod
    def from_document(cls, doc: Document) -> LotState:
        return cls(
            id=doc["_id"],
            member_id=doc["member_id"],
            amount=doc["amount"],
            remaining=doc["remaining"],
            status=LotStatus(doc["status"]),
            earned_at=doc["earned_at"],
            available_at=doc["available_at"],
            expires_at=doc["expires_at"],
            policy=doc["policy"],
            source_entry_id=doc["source_entry_id"],
            held=doc["held"],
            reversed=doc["reversed"],
            debt_paid=doc["debt_paid"],
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "member_id": self.member_id,
            "amount": self.amount,
            "remaining": self.remaining,
            "held": self.held,
            "reversed": self.reversed,
            "debt_paid": self.debt_paid,
            "status": self.status.value,
            "earned_at": self.earned_at,
            "available_at": self.available_at,
            "expires_at": self.expires_at,
            "policy": self.policy,
            "source_entry_id": self.source_entry_id,
        }

    def take(self, points: int) -> None:
        self.remaining -= points
        if self.remaining == 0 and self.status in LIVE:
            self.status = LotStatus.EXHAUSTED
        self.dirty = True


@dataclass(eq=False)
class HoldState:
    id: ObjectId
    member_id: str
    points: int
    status: HoldStatus
    expires_at: datetime
    created_at: datetime
    lots: list[tuple[ObjectId, int]]
    captured: int = 0
    reference: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    closed_at: datetime | None = None
    capture_entry_id: ObjectId | None = None
    new: bool = False
    dirty: bool = False

    @classmethod
    def from_document(cls, doc: Document) -> HoldState:
        return cls(
            id=doc["_id"],
            member_id=doc["member_id"],
            points=doc["points"],
            status=HoldStatus(doc["status"]),
            expires_at=doc["expires_at"],
            created_at=doc["created_at"],
            lots=[(s["lot_id"], s["points"]) for s in doc["lots"]],
            captured=doc["captured"],
            reference=doc.get("reference"),
            idempotency_key=doc.get("idempotency_key"),
            request_hash=doc.get("request_hash"),
            closed_at=doc.get("closed_at"),
            capture_entry_id=doc.get("capture_entry_id"),
        )

    def to_document(self) -> Document:
        return {
            "_id": self.id,
            "member_id": self.member_id,
            "points": self.points,
            "captured": self.captured,
            "status": self.status.value,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "lots": [{"lot_id": lot_id, "points": points} for lot_id, points in self.lots],
            "reference": self.reference,
            "idempotency_key": self.idempotency_key,
            "request_hash": self.request_hash,
            "capture_entry_id": self.capture_entry_id,
        }


@dataclass
class AccountState:
    """The stored counters a book cannot rebuild from its live lots."""

    member_id: str
    debt: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    last_activity_at: datetime | None = None
    version: int = 0
    created_at: datetime | None = None
    seq: int = 0  # the sequence number of the member's last ledger entry

    @classmethod
    def from_document(cls, doc: Document) -> AccountState:
        return cls(
            member_id=doc["_id"],
            debt=doc["debt"],
            lifetime_earned=doc["lifetime_earned"],
            lifetime_redeemed=doc["lifetime_redeemed"],
            lifetime_expired=doc["lifetime_expired"],
            last_activity_at=doc.get("last_activity_at"),
            version=doc["version"],
            created_at=doc.get("created_at"),
            seq=doc.get("seq", 0),
        )


@dataclass(eq=False)
class Request:
    """The idempotency of one operation: its key and the fingerprint of what was asked."""

    key: str
    fingerprint: str
    meta: EntryMeta = field(default_factory=EntryMeta)


class Book:
    def __init__(self, account: AccountState, lots: Iterable[LotState], now: datetime) -> None:
        self.account = account
        self.lots: dict[ObjectId, LotState] = {lot.id: lot for lot in lots}
        self.holds: dict[ObjectId, HoldState] = {}
        self.entries: list[Document] = []
        self.now = now
        self.touched = False
        self.matured: list[LotState] = []
        self.expired: list[tuple[LotState, int]] = []

    # -- balances ------------------------------------------------------------------------------

    def available(self) -> int:
        return sum(lot.free for lot in self.lots.values() if lot.status is LotStatus.AVAILABLE)

    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots.values() if lot.status is LotStatus.PENDING)

    def held(self) -> int:
        return sum(lot.held for lot in self.lots.values())

    def account_document(self) -> Document:
        soonest = next_expiry(list(self.lots.values()))
        acc = self.account
        return {
            "available": self.available(),
            "pending": self.pending(),
            "held": self.held(),
            "debt": acc.debt,
            "lifetime_earned": acc.lifetime_earned,
            "lifetime_redeemed": acc.lifetime_redeemed,
            "lifetime_expired": acc.lifetime_expired,
            "next_expiry": None
            if soonest is None
            else {"expires_at": soonest[0], "points": soonest[1]},
            "last_activity_at": acc.last_activity_at,
            "version": acc.version + 1,
            "created_at": acc.created_at or self.now,
            "updated_at": self.now,
        }

    # -- time ----------------------------------------------------------------------------------

    def catch_up(self, as_of: datetime) -> None:
        self.mature_due(as_of)
        self.expire_due(as_of)

    def mature_due(self, as_of: datetime) -> list[LotState]:
        matured = [
            lot
            for lot in self.lots.values()
            if lot.status is LotStatus.PENDING and lot.available_at <= as_of
        ]
        for lot in matured:
            lot.status = LotStatus.AVAILABLE
            lot.dirty = self.touched = True
        self.matured.extend(matured)
        return matured

    def expire_due(self, as_of: datetime) -> list[tuple[LotState, int]]:
        """Every live lot whose expiry is at or before `as_of` loses its unreserved points."""
        due = sorted(
            (
                lot
                for lot in self.lots.values()
                if lot.status in LIVE and lot.expires_at is not None and lot.expires_at <= as_of
            ),
            key=lambda lot: (lot.expires_at, lot.order_id),
        )
        expired: list[tuple[LotState, int]] = []
        for lot in due:
            points = lot.remaining - lot.held  # a held portion expires when its hold is released
            lot.remaining -= points
            lot.status = LotStatus.EXPIRED
            lot.dirty = self.touched = True
            self.account.lifetime_expired += points
            expired.append((lot, points))
            self.expired.append((lot, points))
            if points:
                self._record(
                    EntryKind.EXPIRE,
                    -points,
                    [(lot, points)],
                    key=expire_key(lot.id),
                    meta=EntryMeta(actor="system", description="points expired"),
                    expired_at=lot.expires_at,
                )
        return expired

    def _activity(self) -> None:
        """An earn or a spend: restart the clock of every inactivity lot (never moving one earlier)."""
        self.account.last_activity_at = self.now
        for lot in self.lots.values():
            if lot.status in LIVE and lot.policy.get("kind") == "inactivity":
                renewed = add_local_days(
                    self.now, int(lot.policy["params"]["days"]), zone_of(lot.policy["tz"])
                )
                if lot.expires_at is None or renewed > lot.expires_at:
                    lot.expires_at = renewed
                    lot.dirty = True

    # -- operations ----------------------------------------------------------------------------

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
        _positive(points)
        pay = min(self.account.debt, points)
        self.account.debt -= pay
        entry_id = ObjectId()
        pending = available_at is not None and available_at > self.now
        lot = LotState(
            id=ObjectId(),
            member_id=self.account.member_id,
            amount=points,
            remaining=points - pay,
            status=LotStatus.PENDING if pending else LotStatus.AVAILABLE,
            earned_at=earned_at,
            available_at=available_at if available_at is not None else earned_at,
            expires_at=expires_at,
            policy=policy,
            source_entry_id=entry_id,
            debt_paid=pay,
            new=True,
        )
        if lot.remaining == 0:
            lot.status = LotStatus.EXHAUSTED
        self.lots[lot.id] = lot
        if kind is EntryKind.EARN:
            self.account.lifetime_earned += points
            self._activity()
        extra: dict[str, Any] = {}
        if breakdown:
            extra["breakdown"] = breakdown
        return self._record(
            kind,
            points,
            [(lot, points)],
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
            entry_id=entry_id,
            debt_change=-pay,
            occurred_at=earned_at,
            **extra,
        )

    def debit(self, kind: EntryKind, points: int, request: Request) -> Document:
        """A spend (REDEEM) or a negative adjustment: take from available lots in spending order."""
        _positive(points)
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

    def hold(self, points: int, ttl: timedelta, request: Request) -> HoldState:
        _positive(points)
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
        return hold

    def capture(self, hold: HoldState, points: int | None, request: Request) -> Document:
        """Redeem all or part of a hold; the rest goes back (or expires, if its lot expired meanwhile)."""
        _check_active(hold, self.now)
        points = hold.points if points is None else points
        _positive(points)
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
            if back and lot.status is LotStatus.EXPIRED:
                lot.remaining -= back
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

    def clear(self, active_holds: Iterable[HoldState], request: Request) -> Document:
        """清零: release every active hold, then take every remaining point of the member to zero."""
        for hold in active_holds:
            self.holds[hold.id] = hold
            self.release(hold)
        shares = [(lot, lot.remaining) for lot in self.lots.values() if lot.free > 0]
        total = 0
        for lot, take in shares:
            lot.take(take)
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
        shares = []
        for lot in self.lots.values():
            if lot.status in LIVE and lot.expires_at is not None and lot.expires_at < until:
                lot.expires_at = until
                lot.dirty = True
                shares.append((lot, lot.free))
        return self._record(
            EntryKind.EXTEND,
            0,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
            extended_to=until,
        )

    def reverse(self, lot: LotState, points: int, request: Request) -> Document:
        """Take back an earn: from its own lot first, then other available points, then as debt."""
        _positive(points)
        reversible = lot.amount - lot.reversed
        if points > reversible:
            raise ReversalExceedsEarn(reversible, points)
        from_lot = min(points, lot.free)
        shares: list[tuple[LotState, int]] = []
        if from_lot:
            lot.take(from_lot)
            if lot.remaining == 0:
                lot.status = LotStatus.REVERSED
            shares.append((lot, from_lot))
        lot.reversed += points
        lot.dirty = True
        rest = points - from_lot
        others = [other for other in self.lots.values() if other is not lot]
        from_others = min(rest, _spendable(others))
        for other, take in allocate(_available(others), from_others) if from_others else []:
            other.take(take)
            shares.append((other, take))
        debt = rest - from_others
        self.account.debt += debt
        self.account.lifetime_earned -= points
        return self._record(
            EntryKind.REVERSAL,
            -points,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=request.meta,
            debt_change=debt,
            reverses=lot.source_entry_id,
        )

    # -- internals -----------------------------------------------------------------------------

    def _allocate(self, points: int) -> list[tuple[LotState, int]]:
        candidates = _available(self.lots.values())
        available = sum(lot.free for lot in candidates)
        if available < points:
            raise InsufficientPoints(available, points)
        return allocate(candidates, points)

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
        entry: Document = {
            "_id": entry_id or ObjectId(),
            "member_id": self.account.member_id,
            "kind": kind.value,
            "points": points,
            "balance_after": self.available(),
            "debt_change": debt_change,
            "occurred_at": occurred_at or self.now,
            "recorded_at": self.now,
            "actor": meta.actor,
            "channel": meta.channel,
            "reference": meta.reference,
            "description": meta.description,
            "idempotency_key": key,
            "request_hash": fingerprint,
            "lots": [{"lot_id": lot.id, "points": take} for lot, take in shares],
            **meta.extra,
            **extra,
        }
        self.entries.append(entry)
        return entry


def _available(lots: Iterable[LotState]) -> list[LotState]:
    return [lot for lot in lots if lot.status is LotStatus.AVAILABLE and lot.free > 0]


def _spendable(lots: Iterable[LotState]) -> int:
    return sum(lot.free for lot in _available(lots))


def _positive(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidPoints(points)


def _check_active(hold: HoldState, now: datetime) -> None:
    if hold.status is not HoldStatus.ACTIVE:
        raise HoldNotActive(str(hold.id), hold.status.value)
    if hold.expires_at <= now:
        raise HoldNotActive(str(hold.id), HoldStatus.EXPIRED.value)
