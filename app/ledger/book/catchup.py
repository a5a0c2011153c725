"""Catching a book up with the clock: pending lots maturing, lots expiring, inactivity renewed.

Every operation first catches the book up, but only when the account says something is due (the
soonest expiry of free points, of an inactivity policy, or of pending points): pending lots whose
return window has passed become available and pay any debt first (a MATURE entry of 0 points
records the debt they paid), then lots whose expiry has passed expire, with the deterministic
entry keys the expiry job uses, so no spend ever uses points that have expired and a job and an
operation never expire a lot twice. The lots of an inactivity policy form a class that expires
together; an earn or a spend restarts its clock (`_activity`).
"""

from __future__ import annotations

from datetime import datetime

from app.ledger.book.base import BookBase
from app.ledger.models import ClassState, EntryKind, EntryMeta, LotStatus
from app.ledger.state import LIVE, LotState, expire_key, renewal


class CatchUp(BookBase):
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
