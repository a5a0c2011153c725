"""Paying with points (积分抵扣): quote how many points may pay for an order, hold them at checkout,
capture all or part when the payment goes through, or release them.

All through app.ledger (hold, capture, release); a hold ends by itself at its TTL (the worker's
hold job). A partner's holds carry its id in their idempotency key, so another partner's hold id
is not found. A hold and a capture bind the order id to its member and a capture is recorded
against the order, in their own transactions (app.partners.payments): an order id is one member's
(their points pay for it, a purchase for another member is refused), and a refund of the order
gives back in proportion the points that paid for it, to them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from pymongo.errors import BulkWriteError, DuplicateKeyError

from app import ledger
from app.bounds import MAX_KEY_LENGTH
from app.clock import Clock
from app.db import Mongo
from app.ledger import MAX_ENTRY_POINTS, Entry, Hold, HoldStatus, LedgerUnit, run_in_ledger
from app.members import MemberStatus, MemberSuspended, get_member
from app.partners.errors import (
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    InvalidPartnerInput,
    NotEnoughPoints,
    OffsetNotOffered,
    PartnerRefused,
)
from app.partners.members import MemberRef, find_member
from app.partners.orders import order_id_of
from app.partners.payments import (
    HOLD_FIELD,
    claim_order,
    hold_key_prefix,
    once_more_if_freed,
    record_capture,
)
from app.partners.purchase_input import check_order_id, check_text, parse_money
from app.program import PayWithPoints, current_program

MAX_TTL_MINUTES = 7 * 24 * 60
KEY_FIELD = ("idempotency_key",)


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
    """Hold the member's points for the partner's order, binding the order id to the member in the
    same transaction (payments.claim_order; a binding another member's hold left unpaid is given
    up: payments.once_more_if_freed). Idempotent on the key, whatever form of the member's
    reference the replay uses: the fingerprint holds the member's id."""
    order_id = check_order_id(order_id)
    key = hold_key_prefix(partner_id) + check_text(idempotency_key, KEY_FIELD, MAX_KEY_LENGTH)
    rules = await _rules(mongo)
    if not rules.min_points <= points <= MAX_ENTRY_POINTS or points % rules.step:
        raise InvalidPartnerInput(
            f"hold at least {rules.min_points} points, in steps of {rules.step}",
            ("points",),
        )
    minutes = rules.hold_minutes if ttl_minutes is None else ttl_minutes
    if not 1 <= minutes <= MAX_TTL_MINUTES:
        raise InvalidPartnerInput(f"ttlMinutes is 1 to {MAX_TTL_MINUTES}", ("ttl_minutes",))
    found = await find_member(mongo, member, active=False)
    order_key = order_id_of(partner_id, order_id)
    digest = _digest("hold", found.id, points, minutes, order_id)

    async def work(unit: LedgerUnit) -> Hold:
        if found.status is not MemberStatus.ACTIVE:
            raise MemberSuspended(f"the member is {found.status.value}: no points move")
        await claim_order(mongo, unit.session, order_key, found.id)
        return await unit.hold(found.id, points, timedelta(minutes=minutes), reference=order_id)

    async def replay(first: Entry) -> Hold:  # a hold makes no entry: never called
        raise AssertionError(first.id)

    async def attempt() -> Hold:
        try:
            return await run_in_ledger(
                mongo,
                clock,
                work,
                idempotency_key=key,
                fingerprint=digest,
                replay=replay,
                require_entry=False,
            )
        except (
            BulkWriteError,
            DuplicateKeyError,
            PartnerRefused,
            MemberSuspended,
            ledger.LedgerError,
        ) as exc:
            # A replay fails on the hold's key, or on what the first hold used up: it answers the
            # first hold as it is now; an unused key means the refusal stands.
            first = await ledger.first_hold(mongo, key)
            if first is None:
                if isinstance(exc, ledger.InsufficientPoints):
                    raise NotEnoughPoints(exc.available, exc.requested) from None
                raise
            if first.fingerprint != digest:
                raise IdempotencyConflict(
                    "this idempotency key was used for another hold", KEY_FIELD
                ) from None
            return first.hold

    return await once_more_if_freed(mongo, clock, partner_id, order_id, attempt)


def _digest(operation: str, *values: object) -> str:
    return hashlib.sha256(json.dumps([operation, *values]).encode()).hexdigest()


async def partner_hold(mongo: Mongo, partner_id: str, hold_id: str) -> Hold:
    """The partner's own hold; another partner's is not found, exactly like a missing one."""
    try:
        found = await ledger.get_hold(mongo, hold_id)
    except ledger.HoldNotFound:
        raise HoldNotFound("no such hold") from None
    if not (found.idempotency_key or "").startswith(f"partner:{partner_id}:"):
        raise HoldNotFound("no such hold")
    return found


async def read_hold(mongo: Mongo, clock: Clock, partner_id: str, hold_id: str) -> Hold | None:
    """The partner's own hold as it stands now (past its TTL it reads EXPIRED, whether or not the
    worker released it yet); another partner's is None, exactly like a missing one."""
    try:
        held = await partner_hold(mongo, partner_id, hold_id)
    except HoldNotFound:
        return None
    if held.status is HoldStatus.ACTIVE and held.expires_at <= clock.now():
        return replace(held, status=HoldStatus.EXPIRED)
    return held


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
    key = check_text(idempotency_key, KEY_FIELD, MAX_KEY_LENGTH)
    if points is not None and not 1 <= points <= MAX_ENTRY_POINTS:
        raise InvalidPartnerInput("capture at least 1 point", ("points",))
    held = await partner_hold(mongo, partner_id, hold_id)
    order_key = order_id_of(partner_id, held.reference or "")

    async def work(unit: LedgerUnit) -> Entry:
        await claim_order(mongo, unit.session, order_key, held.member_id, HOLD_FIELD)
        entry = await unit.capture(
            held.id, points, actor=f"partner:{partner_id}", channel="partner"
        )
        await record_capture(
            mongo, unit.session, order_key, held.member_id, entry.id, -entry.points
        )
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
    except ledger.AccountFrozen:
        # suspended or erased (an erased member's account is frozen too): say which
        status = (await get_member(mongo, held.member_id)).status.value
        message = f"the member is {status}: their points cannot be used"
        raise MemberSuspended(message, HOLD_FIELD) from None
    except ledger.CaptureExceedsHold as exc:
        raise InvalidPartnerInput(str(exc), ("points",)) from None
    except ledger.IdempotencyConflict:
        raise IdempotencyConflict(
            "this idempotency key was used for another capture", KEY_FIELD
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
