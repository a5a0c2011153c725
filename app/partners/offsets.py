"""Paying with points (积分抵扣): quote how many points may pay for an order, hold them at checkout,
capture all or part when the payment goes through, or release them.

All through app.ledger (hold, capture, release); a hold ends by itself at its TTL (the worker's
hold job). A partner's holds carry its id in their idempotency key, so another partner's hold id
is not found. A capture is also recorded against the order (app.partners.payments), so that a
refund of the order gives back in proportion the points that paid for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from app import ledger
from app.clock import Clock
from app.db import Mongo
from app.ledger import MAX_ENTRY_POINTS, Entry, Hold, LedgerUnit, run_in_ledger
from app.partners.errors import (
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    InvalidPartnerInput,
    NotEnoughPoints,
    OffsetNotOffered,
)
from app.partners.members import MemberRef, find_member
from app.partners.orders import order_id_of
from app.partners.payments import record_capture
from app.partners.purchase_input import check_order_id, check_text, parse_money
from app.program.models import PayWithPoints
from app.program.service import current_program

MAX_TTL_MINUTES = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class Quote:
    points: int  # the most points the member may use on the order now
    value: Decimal  # what they pay, in the program's money currency
    point_value: Decimal
    available: int  # the member's spendable points


def quote_points(rules: PayWithPoints, available: int, amount: Decimal) -> int:
    """min(balance, floor(max_share × amount / point_value)) in whole steps; 0 below min_points."""
    by_share = math.floor(rules.max_share * amount / rules.point_value)
    points = min(available, by_share) // rules.step * rules.step
    return points if points >= rules.min_points else 0


async def _rules(mongo: Mongo) -> PayWithPoints:
    rules = (await current_program(mongo)).pay_with_points
    if rules is None:
        raise OffsetNotOffered("the program does not let members pay with points")
    return rules


async def quote_offset(mongo: Mongo, clock: Clock, member: MemberRef, order_amount: str) -> Quote:
    amount = parse_money(order_amount, ("orderAmount",))
    rules = await _rules(mongo)
    found = await find_member(mongo, member)
    available = (await ledger.get_balance(mongo, found.id, clock.now())).available
    points = quote_points(rules, available, amount)
    return Quote(points, points * rules.point_value, rules.point_value, available)


async def hold_points(
    mongo: Mongo,
    clock: Clock,
    partner_id: str,
    *,
    member: MemberRef,
    points: int,
    order_id: str,
    idempotency_key: str,
    ttl_minutes: int | None = None,
) -> Hold:
    order_id = check_order_id(order_id)
    key = check_text(idempotency_key, ("input", "idempotencyKey"), 128)
    rules = await _rules(mongo)
    if not rules.min_points <= points <= MAX_ENTRY_POINTS or points % rules.step:
        raise InvalidPartnerInput(
            f"hold at least {rules.min_points} points, in steps of {rules.step}",
            ("input", "points"),
        )
    minutes = rules.hold_minutes if ttl_minutes is None else ttl_minutes
    if not 1 <= minutes <= MAX_TTL_MINUTES:
        raise InvalidPartnerInput(f"ttlMinutes is 1 to {MAX_TTL_MINUTES}", ("input", "ttlMinutes"))
    found = await find_member(mongo, member)
    try:
        return await ledger.hold(
            mongo,
            clock,
            member_id=found.id,
            points=points,
            ttl=timedelta(minutes=minutes),
            idempotency_key=f"partner:{partner_id}:hold:{key}",
            reference=order_id,
        )
    except ledger.InsufficientPoints as exc:
        raise NotEnoughPoints(exc.available, exc.requested) from None
    except ledger.IdempotencyConflict:
        raise IdempotencyConflict(
            "this idempotency key was used for another hold", ("input", "idempotencyKey")
        ) from None


async def partner_hold(mongo: Mongo, partner_id: str, hold_id: str) -> Hold:
    """The partner's own hold; another partner's is not found, exactly like a missing one."""
    try:
        found = await ledger.get_hold(mongo, hold_id)
    except ledger.HoldNotFound:
        raise HoldNotFound("no such hold") from None
    if not (found.idempotency_key or "").startswith(f"partner:{partner_id}:"):
        raise HoldNotFound("no such hold")
    return found


async def capture_points(
    mongo: Mongo,
    clock: Clock,
    partner_id: str,
    *,
    hold_id: str,
    idempotency_key: str,
    points: int | None = None,
) -> Entry:
    """Redeem all or part of the partner's hold, and count the points against its order, in one
    transaction: a refund of the order gives back only points really captured for it."""
    key = check_text(idempotency_key, ("input", "idempotencyKey"), 128)
    if points is not None and not 1 <= points <= MAX_ENTRY_POINTS:
        raise InvalidPartnerInput("capture at least 1 point", ("input", "points"))
    held = await partner_hold(mongo, partner_id, hold_id)
    order_key = order_id_of(partner_id, held.reference or "")

    async def work(unit: LedgerUnit) -> Entry:
        entry = await unit.capture(
            held.id, points, actor=f"partner:{partner_id}", channel="partner"
        )
        await record_capture(mongo, unit.session, order_key, entry.id, -entry.points)
        return entry

    async def replay(first: Entry) -> Entry:
        return first

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=f"partner:{partner_id}:capture:{key}",
            fingerprint=f"{held.id}:{points}",
            replay=replay,
        )
    except ledger.HoldNotActive as exc:
        raise HoldNotActive(f"the hold is {exc.status}") from None
    except ledger.CaptureExceedsHold as exc:
        raise InvalidPartnerInput(str(exc), ("input", "points")) from None
    except ledger.IdempotencyConflict:
        raise IdempotencyConflict(
            "this idempotency key was used for another capture", ("input", "idempotencyKey")
        ) from None


async def release_points(mongo: Mongo, clock: Clock, partner_id: str, hold_id: str) -> Hold:
    held = await partner_hold(mongo, partner_id, hold_id)
    try:
        return await ledger.release(mongo, clock, hold_id=held.id)
    except ledger.HoldNotActive as exc:
        raise HoldNotActive(f"the hold is {exc.status}") from None


async def member_balance(
    mongo: Mongo, clock: Clock, member: MemberRef
) -> tuple[str, ledger.Balance]:
    found = await find_member(mongo, member, active=False)
    return found.id, await ledger.get_balance(mongo, found.id, clock.now())
