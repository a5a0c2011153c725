"""Redeeming a reward: stock, the member's limit, the points and the redemption in ONE transaction.

`redeem` runs five named steps in the ledger's unit of work (app.ledger.run_in_ledger): take
stock, claim the member's limit, spend the points, issue the coupon, record the redemption.
Every check that can race is a conditional write inside the transaction, never a read followed by
a write: the stock decrement takes units only while enough are left, and the member's claim
counter and ledger account are single documents that concurrent redemptions all write, so
snapshot isolation turns every race into a write conflict that the runner retries from the
start. A refusal raised inside the transaction aborts it, so nothing half-done is committed.

A retry with the same idempotency key is answered by the ledger: the REDEEM entry carries the key
under its unique index, so a replay fails (on the key, or on what the first request used up) and
gets the redemption that entry paid for; a different request under the key is a conflict.

Cost of a redemption: the reward (read and stock taken in one command), the member's claim
(one upsert, for limited rewards), the account and lots read, the redemption inserted, the
account, lots and entry written, the commit. The member and the program are read only for a
reward with a minimum tier.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from pymongo.asynchronous.client_session import AsyncClientSession

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo, newest_first
from app.event_log import event, to_ms
from app.ledger import (
    AccountFrozen,
    Entry,
    IdempotencyConflict,
    InsufficientPoints,
    LedgerUnit,
    PointsLimitExceeded,
    run_in_ledger,
)
from app.members import MemberSuspended, get_member
from app.program import current_program
from app.rewards.catalog import is_active
from app.rewards.errors import (
    IdempotencyKeyReused,
    InvalidAddress,
    InvalidQuantity,
    LimitReached,
    NotEnoughPoints,
    OutOfStock,
    RewardNotFound,
    RewardUnavailable,
)
from app.rewards.models import Redemption, RedemptionStatus, Reward, ShippingAddress

PAYMENT_WINDOW = timedelta(minutes=30)  # 积分+现金: how long the points wait for the payment

MAX_QUANTITY = 100
COUPON_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till
DEFAULT_COUPON_VALIDITY = timedelta(days=30)


def request_hash(reward_id: str, quantity: int, address: ShippingAddress | None = None) -> str:
    shipped = "" if address is None else ":" + address.model_dump_json()
    return hashlib.sha256(f"redeem:{reward_id}:{quantity}{shipped}".encode()).hexdigest()


def new_coupon_code() -> str:
    raw = "".join(secrets.choice(COUPON_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def redeem(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    reward_id: str,
    quantity: int,
    idempotency_key: str,
    shipping_address: ShippingAddress | None = None,
) -> Redemption:
    """Spend points on `quantity` units of the reward; raises a RedemptionRefused subclass and
    changes nothing. Replaying `idempotency_key` returns the first redemption.

    A reward that ships takes the member's `shipping_address` (checked by
    app.rewards.fulfilment.check_address) and starts PENDING; any other refuses one.

    A reward with a minimum tier reads the member (MemberNotFound) and the program
    (ProgramNotConfigured).
    """
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise InvalidQuantity(f"the quantity must be between 1 and {MAX_QUANTITY}")

    fingerprint = request_hash(reward_id, quantity, shipping_address)
    namespaced = f"redeem:{member_id}:{idempotency_key}"

    async def hold_for_payment(
        unit: LedgerUnit, reward: Reward, member_id: str, quantity: int, redemption_id: str
    ) -> Redemption:
        """积分+现金: hold the points for the brand's payment (app/rewards/cash.py)."""
        assert reward.cash_price is not None
        try:
            held = await unit.hold(
                member_id,
                reward.points_price * quantity,
                PAYMENT_WINDOW,
                reference=f"redemption:{redemption_id}",
            )
        except InsufficientPoints as exc:
            raise NotEnoughPoints(exc.available, exc.requested) from None
        except PointsLimitExceeded as exc:
            raise InvalidQuantity(
                f"{exc.points} points is more than one redemption may hold"
            ) from None
        except AccountFrozen:
            raise MemberSuspended("this member cannot redeem: the account is suspended") from None
        redemption = Redemption(
            id=redemption_id,
            member_id=member_id,
            reward_id=reward.id,
            quantity=quantity,
            points=reward.points_price * quantity,
            status=RedemptionStatus.AWAITING_PAYMENT,
            created_at=unit.now,
            shipping_address=shipping_address,
            hold_id=held.id,
            entry_id=f"hold:{held.id}",  # unique until the capture's entry replaces it
            order_id="po_" + secrets.token_hex(10),
            cash_total=f"{Decimal(reward.cash_price) * quantity:.2f}",
            cash_currency=reward.cash_currency,
            payment_due_at=held.expires_at,
            redeem_key=namespaced,
            request_fingerprint=fingerprint,
        )
        await record_redemption(mongo, unit.session, redemption)
        unit.emit(
            redemption_event("redemption.created", redemption, unit.now, status="awaiting_payment")
        )
        return redemption

    async def work(unit: LedgerUnit) -> Redemption:
        reward = await take_stock(mongo, unit.session, reward_id, quantity)
        await check_eligible(mongo, reward, member_id, quantity, unit.now)
        if running_low(reward, quantity):
            await tell_low_stock(mongo, clock, unit, reward)
        if reward.ships != (shipping_address is not None):
            raise InvalidAddress(
                "this reward ships: give a shipping address"
                if reward.ships
                else "this reward does not ship: give no address",
                ("shipping_address",),
            )
        if reward.per_member_limit is not None:
            await claim(mongo, unit.session, reward, member_id, quantity)
        redemption_id = "rd_" + secrets.token_hex(10)
        if reward.cash_price is not None:
            return await hold_for_payment(unit, reward, member_id, quantity, redemption_id)
        entry = await spend_points(unit, reward, member_id, quantity, redemption_id)
        coupon_code, coupon_expires_at = issue_coupon(reward, unit.now)
        if coupon_code is not None and reward.coupon_batch:
            coupon_code = await claim_batch_code(mongo, unit.session, reward.id, redemption_id)
            if coupon_code is None:
                raise OutOfStock(0, quantity)
        redemption = Redemption(
            id=redemption_id,
            member_id=member_id,
            reward_id=reward.id,
            quantity=quantity,
            points=reward.points_price * quantity,
            coupon_code=coupon_code,
            coupon_expires_at=coupon_expires_at,
            voucher_partner_id=reward.partner_id,
            entry_id=entry.id,
            created_at=unit.now,
            status=RedemptionStatus.PENDING if reward.ships else RedemptionStatus.COMPLETED,
            shipping_address=shipping_address,
        )
        await record_redemption(mongo, unit.session, redemption)
        unit.emit(redemption_event("redemption.created", redemption, unit.now))
        if redemption.coupon_code is not None:
            unit.emit(coupon_event("coupon.issued", redemption, unit.now))
        return redemption

    async def first_redemption(entry: Entry) -> Redemption:
        document = await mongo["redemptions"].find_one({"entry_id": entry.id})
        assert document is not None, "a redemption's entry always has its redemption"
        return Redemption.model_validate(document)

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=namespaced,
            fingerprint=fingerprint,
            replay=first_redemption,
        )
    except IdempotencyConflict:
        raise IdempotencyKeyReused(
            "this idempotency key was used for a different redemption"
        ) from None
    except Exception:
        # A points + cash redemption makes no entry (its hold carries the key): its replay
        # fails on the holds' key, or on what the first request used up, and is answered here.
        first = await mongo["redemptions"].find_one({"redeem_key": namespaced})
        if first is None:
            raise
        if first.get("request_fingerprint") != fingerprint:
            raise IdempotencyKeyReused(
                "this idempotency key was used for a different redemption"
            ) from None
        return Redemption.model_validate(first)


async def take_stock(
    mongo: Mongo, session: AsyncClientSession, reward_id: str, quantity: int
) -> Reward:
    """The reward, with `quantity` units taken if its stock is limited: one command.

    The update takes units only while enough are left, and returns the reward as it was; an
    unlimited reward is left as it is (no write, so its redemptions never conflict here).
    """
    left = {
        "$cond": [{"$gte": ["$stock", quantity]}, {"$subtract": ["$stock", quantity]}, "$stock"]
    }
    before = await mongo["rewards"].find_one_and_update(
        {"_id": reward_id}, [{"$set": {"stock": left}}], session=session
    )
    if before is None:
        raise RewardNotFound("no such reward")
    reward = Reward.model_validate(before)
    if reward.stock is None:
        return reward
    if reward.stock < quantity:
        raise OutOfStock(reward.stock, quantity)
    return reward.model_copy(update={"stock": reward.stock - quantity})


def running_low(reward: Reward, quantity: int) -> bool:
    """Whether taking `quantity` brought the reward's stock (as left, `reward.stock`) down to
    its low-stock mark from above it: once per crossing, not at every redemption below it."""
    mark, left = reward.low_stock_at, reward.stock
    return mark is not None and left is not None and left <= mark < left + quantity


async def tell_low_stock(mongo: Mongo, clock: Clock, unit: LedgerUnit, reward: Reward) -> None:
    """The operators are told, in the redemption's transaction: an event for the brand's
    systems (reward.low_stock) and an entry in the audit log the console shows."""
    data = {
        "reward_id": reward.id,
        "name": reward.name,
        "stock": reward.stock,
        "low_stock_at": reward.low_stock_at,
    }
    unit.emit(
        event(
            "reward.low_stock",
            None,
            data,
            key=f"reward.low_stock:{reward.id}:{secrets.token_hex(8)}",  # each crossing its own
            occurred_at=unit.now,
        )
    )
    await record_audit(
        mongo,
        clock,
        actor="system",
        action="reward.low_stock",
        target=f"reward:{reward.id}",
        after={"stock": reward.stock, "low_stock_at": reward.low_stock_at},
        session=unit.session,
    )


async def check_eligible(
    mongo: Mongo, reward: Reward, member_id: str, quantity: int, now: datetime
) -> None:
    """Coupons one at a time, the active window, and the minimum tier (reading the member and
    the program only for a reward that has one)."""
    if reward.kind.coded and quantity != 1:
        raise InvalidQuantity("coupons and vouchers are redeemed one at a time")
    if not is_active(reward, now):
        raise RewardUnavailable("this reward is not available now")
    if reward.min_tier is None:
        return
    member = await get_member(mongo, member_id)
    program = await current_program(mongo)
    codes = [tier.code for tier in program.tiers]
    needed = codes.index(reward.min_tier) if reward.min_tier in codes else len(codes)
    have = codes.index(member.tier) if member.tier in codes else 0
    if have < needed:
        raise RewardUnavailable(
            f"this reward needs the {program.tier(reward.min_tier).name} tier or above"
        )


async def claim(
    mongo: Mongo, session: AsyncClientSession, reward: Reward, member_id: str, quantity: int
) -> None:
    """Count the units against the member's limit: one conditional upsert of the (reward, member)
    counter, which every redemption of that reward by that member writes, so they serialise."""
    limit = reward.per_member_limit
    assert limit is not None
    claimed = {"$ifNull": ["$quantity", 0]}
    after = {"$add": [claimed, quantity]}
    counted = {"$cond": [{"$lte": [after, limit]}, after, claimed]}
    before = await mongo["reward_claims"].find_one_and_update(
        {"_id": f"{reward.id}:{member_id}"},
        [{"$set": {"reward_id": reward.id, "member_id": member_id, "quantity": counted}}],
        upsert=True,
        session=session,
    )
    redeemed = 0 if before is None else int(before["quantity"])
    if redeemed + quantity > limit:
        raise LimitReached(limit, redeemed)


async def spend_points(
    unit: LedgerUnit, reward: Reward, member_id: str, quantity: int, redemption_id: str
) -> Entry:
    try:
        return await unit.spend(
            member_id,
            reward.points_price * quantity,
            reference=reward.name,
            description=f"Redeemed {quantity} × {reward.name}",
            actor=member_id,
            channel="app",
            extra={"redemption_id": redemption_id},
        )
    except InsufficientPoints as exc:
        raise NotEnoughPoints(exc.available, exc.requested) from None
    except PointsLimitExceeded as exc:  # price × quantity past what one entry may spend
        raise InvalidQuantity(
            f"{exc.points} points is more than one redemption may spend"
        ) from None
    except AccountFrozen:
        raise MemberSuspended("this member cannot redeem: the account is suspended") from None


async def claim_batch_code(
    mongo: Mongo, session: AsyncClientSession, reward_id: str, redemption_id: str
) -> str | None:
    """A free code of the reward's uploaded or generated batches (app/rewards/admin.py), now
    issued to the redemption; None when none is left."""
    code = await mongo["coupon_codes"].find_one_and_update(
        {"reward_id": reward_id, "status": "free"},
        {"$set": {"status": "issued", "redemption_id": redemption_id}},
        session=session,
    )
    return None if code is None else str(code["_id"])


def issue_coupon(reward: Reward, now: datetime) -> tuple[str | None, datetime | None]:
    """A new code and its expiry for a coupon or voucher; (None, None) for goods."""
    if not reward.kind.coded:
        return None, None
    days = reward.coupon_validity_days
    return new_coupon_code(), now + (timedelta(days=days) if days else DEFAULT_COUPON_VALIDITY)


async def record_redemption(
    mongo: Mongo, session: AsyncClientSession, redemption: Redemption
) -> None:
    """The redemption, with its coupon: unique indexes on the entry and the coupon code."""
    document: Document = redemption.model_dump(by_alias=True, mode="python")
    await mongo["redemptions"].insert_one(document, session=session)


def redemption_event(type: str, redemption: Redemption, now: datetime, **more: object) -> Document:
    """A redemption's event (app.event_log), for the unit to write with the ledger's."""
    data = {**redemption_data(redemption), **more}
    return event(type, redemption.member_id, data, key=f"{type}:{redemption.id}", occurred_at=now)


def coupon_event(
    type: str, redemption: Redemption, now: datetime, *, partner_id: str | None = None
) -> Document:
    """`coupon.issued` (with its redemption) or `coupon.used` (at a partner's till). The code
    itself is not in the event: it is what a till accepts, and the brand's systems get the
    redemption's id."""
    expires = redemption.coupon_expires_at
    data: Document = {
        "redemption_id": redemption.id,
        "reward_id": redemption.reward_id,
        "voucher_partner_id": redemption.voucher_partner_id,
        "expires_at": None
        if expires is None
        else to_ms(expires).isoformat(timespec="milliseconds"),
    }
    if partner_id is not None:
        data["used_by_partner_id"] = partner_id
    return event(
        type,
        redemption.member_id,
        data,
        key=f"{type}:{redemption.id}",
        occurred_at=now,
        partner_id=partner_id or redemption.voucher_partner_id,
    )


def redemption_data(redemption: Redemption) -> Document:
    """A redemption as its events tell it (no coupon code: the brand's systems get the id)."""
    return {
        "redemption_id": redemption.id,
        "reward_id": redemption.reward_id,
        "quantity": redemption.quantity,
        "points": redemption.points,
        "entry_id": redemption.entry_id,
        "voucher_partner_id": redemption.voucher_partner_id,
    }


async def list_redemptions(
    mongo: Mongo, member_id: str, *, first: int, after: tuple[datetime, str] | None = None
) -> tuple[list[Redemption], bool]:
    """The member's redemptions, newest first, after the (created_at, id) key; and whether more follow."""
    return await search_redemptions(mongo, member_id=member_id, first=first, after=after)


async def search_redemptions(
    mongo: Mongo,
    *,
    member_id: str | None = None,
    reward_id: str | None = None,
    status: str | None = None,
    first: int,
    after: tuple[datetime, str] | None = None,
) -> tuple[list[Redemption], bool]:
    """Operators: redemptions of one member or of one reward (or all), newest first, optionally
    of one status, after the (created_at, id) key; and whether more follow. Each filter rides an
    index that ends in (created_at, _id), so a page is one range however many there are."""
    query: Document = {}
    if member_id is not None:
        query["member_id"] = member_id
    if reward_id is not None:
        query["reward_id"] = reward_id
    if status is not None:
        query["status"] = status
    limit = max(0, min(first, 100))
    found, more = await newest_first(
        mongo["redemptions"], query, "created_at", first=limit, after=after
    )
    return [Redemption.model_validate(document) for document in found], more


async def get_redemption(mongo: Mongo, member_id: str, redemption_id: str) -> Redemption | None:
    """The member's own redemption; another member's is None, exactly like a missing one."""
    document = await mongo["redemptions"].find_one({"_id": redemption_id, "member_id": member_id})
    return Redemption.model_validate(document) if document else None
