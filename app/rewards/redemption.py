"""Redeeming a reward: stock, the member's limit, the coupon and the points spend in ONE transaction.

Every check that can race is a conditional write inside the transaction, never a read followed by
a write: the stock decrement matches only while enough units are left, the member's claim counter
and their ledger account are single documents that concurrent redemptions all write, so snapshot
isolation turns every race into a write conflict that the runner retries from the start. A refusal
raised inside the transaction aborts it, so nothing half-done is ever committed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger.errors import InsufficientPoints
from app.ledger.models import EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import fingerprint, instant, is_duplicate_key, load_book, run, save_books
from app.members.models import Member
from app.program.models import Program
from app.rewards.catalog import is_active
from app.rewards.models import Redemption, Reward, RewardKind

MAX_QUANTITY = 100
COUPON_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till
DEFAULT_COUPON_VALIDITY = timedelta(days=30)


class RedemptionRefused(Exception):
    """An expected refusal; nothing was changed. `code` matches the API's UserErrorCode."""

    code = "INVALID_INPUT"
    field: tuple[str, ...] | None = None


class InvalidQuantity(RedemptionRefused):
    code = "INVALID_INPUT"
    field = ("input", "quantity")


class RewardNotFound(RedemptionRefused):
    code = "NOT_FOUND"
    field = ("input", "rewardId")


class RewardUnavailable(RedemptionRefused):
    code = "REWARD_UNAVAILABLE"
    field = ("input", "rewardId")


class OutOfStock(RedemptionRefused):
    code = "OUT_OF_STOCK"

    def __init__(self, available: int, requested: int) -> None:
        super().__init__(f"{requested} requested, {available} left")
        self.available = available
        self.requested = requested


class LimitReached(RedemptionRefused):
    code = "LIMIT_REACHED"

    def __init__(self, limit: int, redeemed: int) -> None:
        super().__init__(f"at most {limit} per member; {redeemed} already redeemed")
        self.limit = limit
        self.redeemed = redeemed


class NotEnoughPoints(RedemptionRefused):
    code = "INSUFFICIENT_POINTS"

    def __init__(self, available: int, required: int) -> None:
        super().__init__(f"{required} points needed, {available} available")
        self.available = available
        self.required = required


class IdempotencyKeyReused(RedemptionRefused):
    code = "IDEMPOTENCY_CONFLICT"
    field = ("input", "idempotencyKey")


def request_hash(reward_id: str, quantity: int) -> str:
    return hashlib.sha256(f"redeem:{reward_id}:{quantity}".encode()).hexdigest()


def new_coupon_code() -> str:
    raw = "".join(secrets.choice(COUPON_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def check_eligible(
    reward: Reward, member: Member, program: Program, quantity: int, now: datetime
) -> None:
    """The checks that need no lock: quantity, active window, minimum tier."""
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise InvalidQuantity(f"the quantity must be between 1 and {MAX_QUANTITY}")
    if reward.kind is RewardKind.COUPON and quantity != 1:
        raise InvalidQuantity("coupon rewards are redeemed one at a time")
    if not is_active(reward, now):
        raise RewardUnavailable("this reward is not available now")
    if reward.min_tier is not None:
        codes = [tier.code for tier in program.tiers]
        needed = codes.index(reward.min_tier) if reward.min_tier in codes else len(codes)
        have = codes.index(member.tier) if member.tier in codes else 0
        if have < needed:
            raise RewardUnavailable(
                f"this reward needs the {program.tier(reward.min_tier).name} tier or above"
            )


async def _replay(mongo: Mongo, member_id: str, key: str, digest: str) -> Redemption | None:
    """The first result under this key, or None; a different request under it is a conflict."""
    first = await mongo["idempotency"].find_one({"scope": f"redeem:{member_id}", "key": key})
    if first is None:
        return None
    if first["request_hash"] != digest:
        raise IdempotencyKeyReused("this idempotency key was used for a different redemption")
    document = await mongo["redemptions"].find_one({"_id": first["redemption_id"]})
    assert document is not None, "an idempotency record always has its redemption"
    return Redemption.model_validate(document)


async def redeem(
    mongo: Mongo,
    clock: Clock,
    *,
    member: Member,
    program: Program,
    reward: Reward,
    quantity: int,
    idempotency_key: str,
) -> Redemption:
    """Spend points on `quantity` units of `reward`; raises a RedemptionRefused subclass and changes nothing."""
    digest = request_hash(reward.id, quantity)
    first = await _replay(mongo, member.id, idempotency_key, digest)
    if first is not None:
        return first
    now = instant(clock.now())  # milliseconds, as stored: a replay returns exactly the first result
    check_eligible(reward, member, program, quantity, now)
    points = reward.points_price * quantity

    async def work(session: AsyncClientSession) -> Redemption:
        redemption_id = "rd_" + secrets.token_hex(10)
        if reward.stock is not None:
            taken = await mongo["rewards"].update_one(
                {"_id": reward.id, "stock": {"$gte": quantity}},
                {"$inc": {"stock": -quantity}},
                session=session,
            )
            if taken.matched_count == 0:
                current = await mongo["rewards"].find_one(
                    {"_id": reward.id}, {"stock": 1}, session=session
                )
                raise OutOfStock(int((current or {}).get("stock") or 0), quantity)
        if reward.per_member_limit is not None:
            await _claim(mongo, session, reward, member.id, quantity)
        book = await load_book(mongo, session, member.id, now, points=points)
        ledger_key = f"redeem:{member.id}:{idempotency_key}"
        request = Request(
            ledger_key,
            fingerprint("spend", member_id=member.id, points=points, reference=reward.name),
            EntryMeta(
                channel="app",
                actor=member.id,
                reference=reward.name,
                description=f"Redeemed {quantity} × {reward.name}",
                extra={"redemption_id": redemption_id},
            ),
        )
        try:
            entry = book.debit(EntryKind.REDEEM, points, request)
        except InsufficientPoints as exc:
            raise NotEnoughPoints(exc.available, exc.requested) from None
        await save_books(mongo, session, [book])
        coupon_code, coupon_expires_at = None, None
        if reward.kind is RewardKind.COUPON:
            validity = (
                timedelta(days=reward.coupon_validity_days)
                if reward.coupon_validity_days
                else DEFAULT_COUPON_VALIDITY
            )
            coupon_code, coupon_expires_at = new_coupon_code(), now + validity
            await mongo["coupons"].insert_one(
                {
                    "code": coupon_code,
                    "reward_id": reward.id,
                    "member_id": member.id,
                    "redemption_id": redemption_id,
                    "valid_from": now,
                    "expires_at": coupon_expires_at,
                    "status": "issued",
                },
                session=session,
            )
        redemption = Redemption(
            id=redemption_id,
            member_id=member.id,
            reward_id=reward.id,
            quantity=quantity,
            points=points,
            coupon_code=coupon_code,
            coupon_expires_at=coupon_expires_at,
            entry_id=str(entry["_id"]),
            created_at=now,
        )
        document: Document = redemption.model_dump(by_alias=True, mode="python")
        document["idempotency_key"] = idempotency_key
        await mongo["redemptions"].insert_one(document, session=session)
        # Last: a concurrent replay fails here, on the unique index, after every other write.
        await mongo["idempotency"].insert_one(
            {
                "scope": f"redeem:{member.id}",
                "key": idempotency_key,
                "request_hash": digest,
                "redemption_id": redemption_id,
                "created_at": now,
            },
            session=session,
        )
        return redemption

    try:
        return await run(mongo, work)
    except (RedemptionRefused, OperationFailure) as exc:
        if isinstance(exc, OperationFailure) and not is_duplicate_key(exc):
            raise
        # A concurrent request with the same key may have won while we were refused.
        first = await _replay(mongo, member.id, idempotency_key, digest)
        if first is None:
            raise
        return first


async def _claim(
    mongo: Mongo, session: AsyncClientSession, reward: Reward, member_id: str, quantity: int
) -> None:
    """Count the units against the member's limit; one document per (reward, member) serialises them."""
    assert reward.per_member_limit is not None
    claim_id = f"{reward.id}:{member_id}"
    current = await mongo["reward_claims"].find_one({"_id": claim_id}, session=session)
    redeemed = int(current["quantity"]) if current else 0
    if redeemed + quantity > reward.per_member_limit:
        raise LimitReached(reward.per_member_limit, redeemed)
    update: dict[str, Any] = {
        "$inc": {"quantity": quantity},
        "$setOnInsert": {"reward_id": reward.id, "member_id": member_id},
    }
    await mongo["reward_claims"].update_one({"_id": claim_id}, update, upsert=True, session=session)


async def list_redemptions(
    mongo: Mongo, member_id: str, *, first: int, after: tuple[datetime, str] | None = None
) -> tuple[list[Redemption], bool]:
    """The member's redemptions, newest first, after the (created_at, id) key; and whether more follow."""
    query: Document = {"member_id": member_id}
    if after is not None:
        created_at, redemption_id = after
        query["$or"] = [
            {"created_at": {"$lt": created_at}},
            {"created_at": created_at, "_id": {"$lt": redemption_id}},
        ]
    limit = max(0, min(first, 100))
    cursor = (
        mongo["redemptions"].find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit + 1)
    )
    found = [Redemption.model_validate(document) async for document in cursor]
    return found[:limit], len(found) > limit


async def get_redemption(mongo: Mongo, member_id: str, redemption_id: str) -> Redemption | None:
    """The member's own redemption; another member's is None, exactly like a missing one."""
    document = await mongo["redemptions"].find_one({"_id": redemption_id, "member_id": member_id})
    return Redemption.model_validate(document) if document else None
