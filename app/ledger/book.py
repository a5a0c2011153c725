"""A member's book in memory: the account, the lots an operation needs, and the pure rules that move them.

The account is the summary that keeps every operation's cost independent of the member's history:
its balances (available, pending, held) are counters, moved by exactly what the operation changed on
the lots it loaded; and it keeps the *front*: the first lots in spending order (app.ledger.order)
with their free points, and how far that list is known to be complete. A spend or a hold loads
only the front lots that cover it; an earn loads no lot at all. The store reads more of the order
(a refill) when the front runs short, and a member whose free points are all in the front never
needs one. `jifen ledger verify` rebuilds the counters and the front from the lots. What the book writes back
is summed up in app.ledger.summary (the account) and app.ledger.entries (each entry).

Every operation first catches the book up with the clock, but only when the account says
something is due (the soonest expiry of free points, of an inactivity policy, or of pending
points): pending lots whose return window has passed become available and pay any debt first, then
lots whose expiry has passed expire (with the deterministic entry keys the expiry job uses), so no
spend ever uses points that have expired.

A lot that expires while part of it is held keeps that part (status expired, remaining = held)
until the hold is captured (redeemed as promised) or released (then it expires, once, under its
own key). So available = Σ (remaining − held) over available lots, and held = Σ held over all lots.

Refunds (reverse): a refund of P points of an earn takes back, from the earn's own points, first
what is still on its lot (pending or available), then what the member already spent of it (from
their other available points, then as debt). Points of the earn that already expired or were
cleared are gone and are not taken again; the entry says how many. Partial refunds follow the same
rule in order and never add up to more than the earn. Debt is paid first by any points that become
available: a new earn or adjustment, or pending points maturing (a MATURE entry of 0 points records
the debt they paid).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.bounds import MAX_ACCOUNT_POINTS, MAX_ENTRY_POINTS
from app.db import Document
from app.ledger import order, summary
from app.ledger.allocation import allocate
from app.ledger.entries import entry_document, refund_description
from app.ledger.errors import (
    AccountClosed,
    AccountFrozen,
    CaptureExceedsHold,
    HoldNotActive,
    InsufficientPoints,
    InvalidPoints,
    PointsLimitExceeded,
    ReversalExceedsEarn,
)
from app.ledger.models import EntryKind, EntryMeta, HoldStatus, LotStatus
from app.ledger.state import (
    LIVE,
    AccountState,
    ClassState,
    FrontEntry,
    HoldState,
    LotState,
    Request,
    expire_key,
    renewal,
)

FRONT_SIZE = 32  # lots kept in the account's front
FRONT_LOW = 8  # fewer than this (with more free points beyond) and the store refills it


class FrontNotLoaded(RuntimeError):
    """The store did not load the front lots an allocation needs (a bug, never a client error)."""


class Book:
    def __init__(self, account: AccountState, lots: Iterable[LotState], now: datetime) -> None:
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

    def _adopt(self, lot: LotState) -> None:
        """A lot new to the account's summary: all of its points are a change."""
        self._join_class(lot)
        self.lots[lot.id] = lot
        self.moved((0, 0, 0), (lot.available, lot.pending, lot.held))
        lot.book = self
        if lot.status is LotStatus.PENDING:
            current = self.account.pending_due
            due = lot.due_while_pending
            self.account.pending_due = due if current is None else min(current, due)

    def adopt_existing(self, lot: LotState) -> None:
        """A lot written before its account kept a summary: all of its points count (upgrades)."""
        lot.before = (0, 0, 0, False)
        self._adopt(lot)

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

    # -- the front --------------------------------------------------------------------------

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

    # -- time ----------------------------------------------------------------------------------

    def catch_up(self, as_of: datetime) -> None:
        self.mature_due(as_of)
        self.expire_due(as_of)

    def mature_due(self, as_of: datetime) -> list[LotState]:
        """Pending lots past their window become available; their points pay any debt first."""
        matured = sorted(
            (
                lot
                for lot in self.lots.values()
                if lot.status is LotStatus.PENDING and lot.available_at <= as_of
            ),
            key=lambda lot: lot.order,
        )
        for lot in matured:
            lot.status = LotStatus.AVAILABLE
            lot.dirty = self.touched = True
            pay = min(self.account.debt, lot.free)
            if pay:
                lot.take(pay)
                lot.debt_paid += pay
                self.account.debt -= pay
                self._record(
                    EntryKind.MATURE,
                    0,
                    [(lot, pay)],
                    key=f"ledger:mature:{lot.id}",
                    meta=EntryMeta(actor="system", description="matured points paid debt"),
                    debt_change=-pay,
                )
        self.matured.extend(matured)
        if self.pending_loaded:
            self.account.pending_due = min(
                (
                    lot.due_while_pending
                    for lot in self.lots.values()
                    if lot.status is LotStatus.PENDING
                ),
                default=None,
            )
        return matured

    def expire_due(self, as_of: datetime) -> list[tuple[LotState, int]]:
        """Every loaded live lot whose expiry is at or before `as_of` loses its unreserved points."""
        due = sorted(
            (
                lot
                for lot in self.lots.values()
                if lot.status in LIVE and lot.expires_at is not None and lot.expires_at <= as_of
            ),
            key=lambda lot: (lot.expires_at, lot.order),
        )
        expired: list[tuple[LotState, int]] = []
        for lot in due:
            points = self._expire(lot, expire_key(lot.id), "points expired")
            expired.append((lot, points))
            self.expired.append((lot, points))
        return expired

    def _expire(self, lot: LotState, key: str, description: str, *, at_expiry: bool = True) -> int:
        """The lot's unreserved points expire, once (under `key`). The entry occurs at the lot's
        expiry (`at_expiry`), whenever it is recorded: a report as of any instant after the
        expiry leaves the points out, however late the job ran; points that stayed held past it
        (released only now) occur now."""
        points = lot.remaining - lot.held  # a held portion expires when its hold is released
        lot.remaining -= points
        lot.expired += points
        lot.status = LotStatus.EXPIRED
        lot.dirty = self.touched = True
        self.account.lifetime_expired += points
        if points:
            self._record(
                EntryKind.EXPIRE,
                -points,
                [(lot, points)],
                key=key,
                meta=EntryMeta(actor="system", description=description),
                occurred_at=lot.expires_at if at_expiry else None,
                expired_at=lot.expires_at,
            )
        return points

    def _activity(self, at: datetime | None = None) -> None:
        """An earn or a spend: restart the clock of every inactivity policy (never moving one earlier).

        `at` is when the activity happened: a purchase posted late renews from its own instant, so
        the partner's delay in posting it does not extend the member's points."""
        at = self.now if at is None else min(at, self.now)
        last = self.account.last_activity_at
        self.account.last_activity_at = at if last is None or at > last else last
        for cls in self.account.classes.values():
            renewed = renewal(cls.policy, at)
            if renewed > cls.expires_at:
                self._move_class(cls, renewed)

    def _move_class(self, cls: ClassState, until: datetime) -> None:
        cls.expires_at = until
        self.renewed[cls.name] = until
        for lot in self.lots.values():
            if lot.status in LIVE and lot.inactivity == cls.name:
                lot.expires_at = until
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
        self._open()
        if kind is EntryKind.EARN:
            _within_account(self.account.lifetime_earned + points)
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

    def restore(self, spent: list[tuple[int, LotState]], request: Request) -> Document:
        """Give back what a spend took (a cancelled redemption): each share as a new lot under the
        terms of the lot it came from (its earn date, expiry and policy), so points never outlive
        the terms they were issued under. A share whose expiry has passed since is not given back
        (it would have expired in the member's hands too); an inactivity share joins its policy's
        current deadline. Debt is paid first, from the soonest-expiring share. One REVERSAL."""
        self._open()
        entry_id = ObjectId()
        kept: list[tuple[int, LotState, datetime | None]] = []
        lost = 0
        for points, source in spent:
            expires = source.expires_at
            name = source.inactivity
            cls = self.account.classes.get(name) if name is not None else None
            if cls is not None and (expires is None or cls.expires_at > expires):
                expires = cls.expires_at
            if expires is not None and expires <= self.now:
                lost += points
            else:
                kept.append((points, source, expires))
        kept.sort(key=lambda share: (share[2] is None, share[2] or self.now))
        shares = [
            (
                self._issue(
                    points,
                    entry_id,
                    earned_at=source.earned_at,
                    available_at=None,
                    expires_at=expires,
                    policy=source.policy,
                ),
                points,
            )
            for points, source, expires in kept
        ]
        paid = sum(lot.debt_paid for lot, _ in shares)
        given = sum(points for points, _, _ in kept)
        meta = request.meta
        if lost:
            told = f"{lost} of the {given + lost} points had expired since and stay expired"
            meta = EntryMeta(
                meta.actor,
                meta.channel,
                meta.reference,
                f"{meta.description}; {told}" if meta.description else told,
                meta.extra,
            )
        return self._record(
            EntryKind.REVERSAL,
            given,
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=meta,
            entry_id=entry_id,
            debt_change=-paid,
            restored={"points": given + lost, "given_back": given, "expired_since": lost},
        )

    def _issue(
        self,
        points: int,
        entry_id: ObjectId,
        *,
        earned_at: datetime,
        available_at: datetime | None,
        expires_at: datetime | None,
        policy: dict[str, Any],
    ) -> LotState:
        """A new lot of `points` for the entry `entry_id`, after paying any debt from it first
        (`debt_paid`); pending until `available_at` when that lies ahead."""
        pay = min(self.account.debt, points)
        _within_account(self.available() + self.pending() + self.held() + points - pay)
        self.account.debt -= pay
        pending = available_at is not None and available_at > self.now
        self.account.lots_issued += 1
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
            seq=self.account.lots_issued,
            debt_paid=pay,
            new=True,
        )
        if lot.remaining == 0:
            lot.status = LotStatus.EXHAUSTED
        lot.rekey()
        self._adopt(lot)
        return lot

    def _join_class(self, lot: LotState) -> None:
        """An inactivity lot expires with the others of its policy: at the later of their expiries."""
        name = lot.inactivity
        if name is None or lot.expires_at is None:
            return
        cls = self.account.classes.get(name)
        if cls is None:
            self.account.classes[name] = ClassState(name, lot.policy, lot.expires_at)
        elif lot.expires_at > cls.expires_at:
            self._move_class(cls, lot.expires_at)
        else:
            lot.expires_at = cls.expires_at

    def debit(self, kind: EntryKind, points: int, request: Request) -> Document:
        """A spend (REDEEM) or a negative adjustment: take from available lots in spending order.
        A frozen account spends nothing (AccountFrozen); an operator's adjustment still applies."""
        _positive(points)
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

    def hold(self, points: int, ttl: timedelta, request: Request) -> HoldState:
        _positive(points)
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

    def reverse(self, lot: LotState, points: int, request: Request) -> Document:
        """Refund `points` of an earn by the rule in the module docstring."""
        _positive(points)
        reversible = lot.amount - lot.reversed
        if points > reversible:
            raise ReversalExceedsEarn(reversible, points)
        from_lot = min(points, lot.free)
        from_spent = min(points - from_lot, lot.spent - lot.refunded_spent)
        gone = points - from_lot - from_spent
        shares: list[tuple[LotState, int]] = []
        if from_lot:
            lot.take(from_lot)
            if lot.remaining == 0:
                lot.status = LotStatus.REVERSED
            shares.append((lot, from_lot))
        lot.refunded_from_lot += from_lot
        lot.refunded_spent += from_spent
        lot.reversed += points
        lot.dirty = True
        from_others = min(from_spent, self.available())
        for other, take in self._allocate(from_others) if from_others else []:
            other.take(take)
            shares.append((other, take))
        debt = from_spent - from_others
        _within_account(self.account.debt + debt)
        self.account.debt += debt
        self.account.lifetime_earned -= points
        already_expired = min(gone, lot.expired)
        refund = {
            "points": points,
            "from_lot": from_lot,
            "from_other_lots": from_others,
            "debt": debt,
            "already_expired": already_expired,
            "already_cleared": gone - already_expired,
        }
        meta = request.meta
        if meta.description is None:
            meta = EntryMeta(
                actor=meta.actor,
                channel=meta.channel,
                reference=meta.reference,
                description=refund_description(refund),
                extra=meta.extra,
            )
        return self._record(
            EntryKind.REVERSAL,
            -(from_lot + from_spent),
            shares,
            key=request.key,
            fingerprint=request.fingerprint,
            meta=meta,
            debt_change=debt,
            reverses=lot.source_entry_id,
            refund=refund,
        )

    # -- the account after the operation (app.ledger.summary) --------------------------------

    def account_document(self) -> Document:
        """The account's new state: counters moved by what changed, the front, what is due when."""
        return summary.account_document(self)

    # -- internals -----------------------------------------------------------------------------

    def _not_frozen(self) -> None:
        if self.account.frozen:
            raise AccountFrozen(self.account.member_id)

    def _open(self) -> None:
        """An erased member's ledger takes no new entry but a refund's reversal and 清零."""
        if self.account.closed:
            raise AccountClosed(self.account.member_id)

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


def _positive(points: int) -> None:
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise InvalidPoints(points)
    if points > MAX_ENTRY_POINTS:
        raise PointsLimitExceeded("entry", MAX_ENTRY_POINTS, points)


def _within_account(points: int) -> None:
    """A balance, debt or lifetime figure the operation would leave on the account."""
    if points > MAX_ACCOUNT_POINTS:
        raise PointsLimitExceeded("account", MAX_ACCOUNT_POINTS, points)


def _check_active(hold: HoldState, now: datetime) -> None:
    if hold.status is not HoldStatus.ACTIVE:
        raise HoldNotActive(str(hold.id), hold.status.value)
    if hold.expires_at <= now:
        raise HoldNotActive(str(hold.id), HoldStatus.EXPIRED.value)
