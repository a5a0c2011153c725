"""Refunds and debt: reversing an earn, giving back a spend, and new lots paying debt first.

A refund of P points of an earn (`reverse`) takes back, from the earn's own points, first what is
still on its lot (pending or available), then what the member already spent of it (from their
other available points, then as debt). Points of the earn that already expired or were cleared
are gone and are not taken again; the entry says how many. Partial refunds follow the same rule
in order and never add up to more than the earn. Debt is recorded on the account (and the entry's
debt_change), never as a negative lot, and any points that become available pay it first: a new
lot (`_issue`: an earn, an adjustment, a restored spend) or pending points maturing (catchup.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from app.db import Document
from app.ledger.book.base import BookBase, check_account_points, check_entry_points
from app.ledger.book.catchup import CatchUp
from app.ledger.book.front import Front
from app.ledger.entries import refund_description
from app.ledger.errors import ReversalExceedsEarn
from app.ledger.models import EntryKind, EntryMeta, LotStatus
from app.ledger.state import LotState, Request


class Debt(Front, CatchUp, BookBase):
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
        check_account_points(self.available() + self.pending() + self.held() + points - pay)
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

    def reverse(self, lot: LotState, points: int, request: Request) -> Document:
        """Refund `points` of an earn by the rule in the module docstring."""
        check_entry_points(points)
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
        check_account_points(self.account.debt + debt)
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
