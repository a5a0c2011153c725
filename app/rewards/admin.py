"""Operators run the catalog (积分商城): rewards, their stock, coupon batches, and cancelling a
redemption. Every write is idempotent and records its audit entry in its own transaction.

- A reward is created once per idempotency key (the same request replays, another one under the
  key is refused); updates are validated against the whole reward, and audited field by field.
- Stock moves by a signed delta under a key (a replay moves nothing), never below zero, so an
  operator's correction and members' redemptions never overwrite each other.
- A coupon batch (codes uploaded, or generated from `secrets`) adds its codes and as much stock:
  the reward then issues those codes, each to one redemption only (the code is the document id).
  A batch with a code that exists already is refused whole, naming the duplicates.
- Cancelling a redemption gives the points back (a positive REVERSAL through the ledger), puts the
  stock back, frees the member's per-member allowance and voids the coupon, in one transaction;
  a coupon already used cannot be cancelled.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH_WIDE, MAX_STOCK, in_calendar
from app.clock import Clock
from app.db import Document, Mongo
from app.event_log import append_many
from app.ledger import Entry, IdempotencyConflict, LedgerUnit, PointsLimitExceeded, run_in_ledger
from app.rewards.errors import (
    CatalogRefused,
    CouponUsed,
    DuplicateCodes,
    IllegalTransition,
    KeyReused,
    Missing,
    PointsLimit,
    RewardMissing,
    StockTooLow,
)
from app.rewards.models import Redemption, RedemptionStatus, Reward, RewardKind
from app.rewards.redemption import coupon_event, new_coupon_code, redemption_event

REASON_MAX = 500
MAX_CASH = Decimal("100000.00")
CASH = re.compile(r"[0-9]{1,6}(\.[0-9]{1,2})?")  # ASCII digits: not １９ nor ١٩
MAX_BATCH = 10_000
CODE_MAX = 64
TEXT_MAX = {"description": 2000, "category": 64}  # the name's 120 is the model's own
EDITABLE = (
    "name",
    "description",
    "category",
    "points_price",
    "per_member_limit",
    "min_tier",
    "active_from",
    "active_until",
    "coupon_validity_days",
    "low_stock_at",
)
CHANGEABLE = (*EDITABLE, "active")  # what `update_reward` takes: the editable fields, and archiving


@dataclass(frozen=True)
class RewardFields:
    name: str
    points_price: int
    kind: RewardKind = RewardKind.GOODS
    description: str | None = None
    category: str | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    min_tier: str | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    coupon_validity_days: int | None = None
    partner_id: str | None = None  # a partner voucher's partner (registered and active)
    ships: bool = False  # goods sent to the member (app/rewards/fulfilment.py)
    cash_price: str | None = (
        None  # 积分+现金: the money part, a decimal string (app/rewards/cash.py)
    )
    low_stock_at: int | None = None  # operators told at this stock (Reward.low_stock_at)


def check_cash_price(text: str | None) -> str | None:
    """A money amount as a decimal string: above 0, at most MAX_CASH, at most 2 decimals;
    answered with exactly 2 ("19.9" -> "19.90"). CatalogRefused on `cash_price` otherwise."""
    if text is None:
        return None
    text = text.strip()
    try:
        amount = Decimal(text) if CASH.fullmatch(text) else None
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        amount = None
    if amount is None or not Decimal(0) < amount <= MAX_CASH:
        raise CatalogRefused(
            f"a decimal amount above 0 and at most {MAX_CASH}, 2 decimals at most", "cash_price"
        )
    return f"{amount:.2f}"


def _fingerprint(*values: object) -> str:
    return hashlib.sha256(json.dumps(values, default=str, sort_keys=True).encode()).hexdigest()


def _validated(document: Document) -> Reward:
    try:
        reward = Reward.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CatalogRefused(first["msg"], str(first["loc"][0]) if first["loc"] else None) from None
    for name in ("active_from", "active_until"):
        if not in_calendar(getattr(reward, name)):
            raise CatalogRefused("an instant in the years 2000 to 2199", name)
    if reward.active_from and reward.active_until and reward.active_from >= reward.active_until:
        raise CatalogRefused("the window ends before it starts", "active_until")
    for name, limit in TEXT_MAX.items():
        if len(getattr(reward, name) or "") > limit:
            raise CatalogRefused(f"at most {limit} characters", name)
    return reward


def _replayed_use(first: Document, code: str) -> Redemption:
    if first.get("coupon_code") != code:
        raise KeyReused("this idempotency key used another coupon", "idempotency_key")
    return Redemption.model_validate(first)


def _key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_LENGTH_WIDE:
        raise CatalogRefused(
            f"the idempotency key has 1 to {MAX_KEY_LENGTH_WIDE} characters", "idempotency_key"
        )
    return key


async def create_reward(
    mongo: Mongo, clock: Clock, fields: RewardFields, *, idempotency_key: str, actor: str
) -> Reward:
    optional = ("ships", "cash_price", "low_stock_at")  # only when set: older keys' fingerprints
    values = {
        k: v
        for k, v in vars(fields).items()
        if k not in optional or (v is not None and v is not False)
    }
    if fields.cash_price is not None:
        values["cash_price"] = check_cash_price(fields.cash_price)
    document = {"_id": "r_" + secrets.token_hex(8), **values, "kind": fields.kind.value}
    if fields.partner_id is not None:
        partner = await mongo["partners"].find_one({"_id": fields.partner_id, "status": "active"})
        if partner is None:
            raise Missing("no such active partner", "partner_id")
        document["partner_name"] = partner["name"]
    reward = _validated(document)
    stored = {
        **reward.model_dump(by_alias=True, mode="python"),
        "admin_key": _key(idempotency_key),
        "admin_fingerprint": _fingerprint(values),
    }

    async def work(session: AsyncClientSession) -> Reward:
        await mongo["rewards"].insert_one(stored, session=session)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="reward.create",
            target=f"reward:{reward.id}",
            after=_plain(values),
            session=session,
        )
        return reward

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:
        first = await mongo["rewards"].find_one({"admin_key": idempotency_key})
        if first is None or first.get("admin_fingerprint") != stored["admin_fingerprint"]:
            raise KeyReused(
                "this idempotency key created another reward", "idempotency_key"
            ) from None
        return Reward.model_validate(first)


def _plain(values: dict[str, Any]) -> Document:
    return {
        k: (
            v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, RewardKind) else v
        )
        for k, v in values.items()
    }


async def update_reward(
    mongo: Mongo, clock: Clock, reward_id: str, changes: dict[str, Any], *, actor: str
) -> Reward:
    """Change editable fields (and `active`: archive or restore); nothing changed records nothing."""
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise CatalogRefused(f"cannot change {sorted(unknown)} here", sorted(unknown)[0])

    async def work(session: AsyncClientSession) -> Reward:
        current = await mongo["rewards"].find_one({"_id": reward_id}, session=session)
        if current is None:
            raise RewardMissing("no such reward", "reward_id")
        reward = _validated({**current, **changes})
        before = {k: current.get(k) for k in changes if current.get(k) != changes[k]}
        if before:
            after = {k: changes[k] for k in before}
            await mongo["rewards"].update_one({"_id": reward_id}, {"$set": after}, session=session)
            action = (
                "reward.update"
                if set(after) != {"active"}
                else ("reward.restore" if after["active"] else "reward.archive")
            )
            await record_audit(
                mongo,
                clock,
                actor=actor,
                action=action,
                target=f"reward:{reward_id}",
                before=_plain(before),
                after=_plain(after),
                session=session,
            )
        return reward

    return await mongo.transaction(work)


async def move_stock(
    mongo: Mongo,
    clock: Clock,
    reward_id: str,
    delta: int,
    *,
    reason: str,
    idempotency_key: str,
    actor: str,
) -> Reward:
    """Add (delta > 0) or remove stock; never below zero; once per key."""
    if delta == 0 or abs(delta) > 1_000_000:
        raise CatalogRefused("the change is a non-zero number up to a million", "delta")
    if not 0 < len(reason.strip()) <= REASON_MAX:
        raise CatalogRefused(f"a reason of 1 to {REASON_MAX} characters", "reason")
    move = {
        "_id": f"stock:{_key(idempotency_key)}",
        "reward_id": reward_id,
        "delta": delta,
        "fingerprint": _fingerprint(reward_id, delta, reason),
    }

    async def work(session: AsyncClientSession) -> Reward:
        prior = await mongo["catalog_requests"].find_one({"_id": move["_id"]}, session=session)
        if prior is not None:
            if prior["fingerprint"] != move["fingerprint"]:
                raise KeyReused("this idempotency key moved other stock", "idempotency_key")
            return await _reward(mongo, reward_id, session)
        return await _move(mongo, clock, session, move, reason, actor)

    return await mongo.transaction(work)


async def _move(
    mongo: Mongo, clock: Clock, session: AsyncClientSession, move: Document, reason: str, actor: str
) -> Reward:
    reward_id, delta = move["reward_id"], move["delta"]
    current = await _reward(mongo, reward_id, session)
    if current.stock is None:
        raise CatalogRefused("this reward has unlimited stock", "delta")
    if current.stock + delta > MAX_STOCK:
        raise CatalogRefused(f"a reward holds at most {MAX_STOCK} units", "delta")
    within = {"$gte": max(0, -delta), "$lte": MAX_STOCK - max(0, delta)}
    updated = await mongo["rewards"].find_one_and_update(
        {"_id": reward_id, "stock": within},
        {"$inc": {"stock": delta}},
        session=session,
        return_document=True,
    )
    if updated is None:
        raise StockTooLow(f"only {current.stock} in stock", "delta")
    await mongo["catalog_requests"].insert_one(move, session=session)
    await record_audit(
        mongo,
        clock,
        actor=actor,
        action="reward.stock",
        target=f"reward:{reward_id}",
        before={"stock": current.stock},
        after={"stock": updated["stock"]},
        note=reason,
        session=session,
    )
    return Reward.model_validate(updated)


async def _reward(mongo: Mongo, reward_id: str, session: AsyncClientSession) -> Reward:
    found = await mongo["rewards"].find_one({"_id": reward_id}, session=session)
    if found is None:
        raise RewardMissing("no such reward", "reward_id")
    return Reward.model_validate(found)


async def add_coupon_batch(
    mongo: Mongo,
    clock: Clock,
    reward_id: str,
    *,
    codes: list[str] | None,
    generate: int | None,
    idempotency_key: str,
    actor: str,
) -> tuple[Reward, int]:
    """Add a batch of codes to a coupon reward (and as much stock); returns the reward and the
    number of codes. A replayed key adds nothing; a code that exists refuses the whole batch."""
    batch = _batch_codes(codes, generate)
    batch_id = f"batch:{_key(idempotency_key)}"
    fingerprint = _fingerprint(reward_id, codes, generate)

    async def work(session: AsyncClientSession) -> tuple[Reward, int]:
        prior = await mongo["catalog_requests"].find_one({"_id": batch_id}, session=session)
        if prior is not None:
            if prior["fingerprint"] != fingerprint:
                raise KeyReused("this idempotency key added another batch", "idempotency_key")
            return await _reward(mongo, reward_id, session), int(prior["count"])
        reward = await _reward(mongo, reward_id, session)
        if not reward.kind.coded:
            raise CatalogRefused("codes are for coupons and partner vouchers", "reward_id")
        now = clock.now()
        documents = [
            {
                "_id": code,
                "reward_id": reward_id,
                "batch_id": batch_id,
                "status": "free",
                "created_at": now,
            }
            for code in batch
        ]
        await _insert_codes(mongo, session, documents)
        stock = (reward.stock or 0) + len(batch)
        if stock > MAX_STOCK:
            raise CatalogRefused(f"a reward holds at most {MAX_STOCK} units", "codes")
        await mongo["rewards"].update_one(
            {"_id": reward_id}, {"$set": {"stock": stock, "coupon_batch": True}}, session=session
        )
        await mongo["catalog_requests"].insert_one(
            {"_id": batch_id, "fingerprint": fingerprint, "count": len(batch)}, session=session
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="reward.coupons",
            target=f"reward:{reward_id}",
            before={"stock": reward.stock},
            after={"stock": stock, "codes": len(batch), "generated": generate is not None},
            session=session,
        )
        return reward.model_copy(update={"stock": stock}), len(batch)

    return await mongo.transaction(work)


def _batch_codes(codes: list[str] | None, generate: int | None) -> list[str]:
    if (codes is None) == (generate is None):
        raise CatalogRefused("give either codes or generate", "codes")
    if generate is not None:
        if not 0 < generate <= MAX_BATCH:
            raise CatalogRefused(f"generate 1 to {MAX_BATCH} codes", "generate")
        return [new_coupon_code() for _ in range(generate)]
    assert codes is not None
    cleaned = [code.strip() for code in codes]
    if not 0 < len(cleaned) <= MAX_BATCH or any(not 0 < len(c) <= CODE_MAX for c in cleaned):
        raise CatalogRefused(f"1 to {MAX_BATCH} codes of 1 to {CODE_MAX} characters", "codes")
    unprintable = [c for c in cleaned if not c.isprintable()]  # NUL, ESC, a lone surrogate...
    if unprintable:
        raise CatalogRefused(
            f"a code a member and a till can read: {unprintable[0]!r} is not "
            "(control characters, line separators)",
            "codes",
        )
    repeated = (
        sorted({c for c in cleaned if cleaned.count(c) > 1})
        if len(set(cleaned)) < len(cleaned)
        else []
    )
    if repeated:
        raise DuplicateCodes(f"codes repeated in the batch: {', '.join(repeated[:20])}", "codes")
    return cleaned


async def _insert_codes(
    mongo: Mongo, session: AsyncClientSession, documents: list[Document]
) -> None:
    ids = [d["_id"] for d in documents]
    taken = (
        await mongo["coupon_codes"]
        .find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
        .to_list(20)
    )
    if taken:
        names = ", ".join(str(d["_id"]) for d in taken)
        raise DuplicateCodes(f"codes that exist already: {names}", "codes")
    await mongo["coupon_codes"].insert_many(documents, session=session)


async def cancel_redemption(
    mongo: Mongo, clock: Clock, redemption_id: str, *, reason: str, actor: str
) -> Redemption:
    """Points back, stock back, allowance back, coupon void; once (a replay returns the result)."""
    if not 0 < len(reason.strip()) <= REASON_MAX:
        raise CatalogRefused(f"a reason of 1 to {REASON_MAX} characters", "reason")

    async def work(unit: LedgerUnit) -> Redemption:
        found = await mongo["redemptions"].find_one({"_id": redemption_id}, session=unit.session)
        if found is None:
            raise Missing("no such redemption", "redemption_id")
        redemption = Redemption.model_validate(found)
        if redemption.status is RedemptionStatus.CANCELLED:
            return redemption
        if redemption.status not in (RedemptionStatus.COMPLETED, RedemptionStatus.PENDING):
            raise IllegalTransition(redemption.status, RedemptionStatus.CANCELLED)
        if found.get("coupon_used_at") is not None:
            raise CouponUsed(
                "the coupon was used: the redemption cannot be cancelled", "redemption_id"
            )
        assert redemption.entry_id is not None
        try:
            if redemption.points > redemption.points_refunded:  # a cash refund gave some back
                await unit.restore(
                    redemption.entry_id,
                    reason=f"Cancelled: {reason}",
                    actor=actor,
                    reference=redemption_id,
                    extra={"redemption_id": redemption_id},
                    points=redemption.points - redemption.points_refunded,
                    after=redemption.points_refunded,
                )
        except PointsLimitExceeded as exc:
            raise PointsLimit(str(exc), "redemption_id") from None
        await put_back(mongo, unit.session, redemption)
        now = unit.now
        await mongo["redemptions"].update_one(
            {"_id": redemption_id},
            {
                "$set": {
                    "status": RedemptionStatus.CANCELLED.value,
                    "cancelled_at": now,
                    "cancel_reason": reason,
                }
            },
            session=unit.session,
        )
        unit.emit(redemption_event("redemption.cancelled", redemption, now, reason=reason))
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="redemption.cancel",
            target=f"redemption:{redemption_id}",
            after={"points": redemption.points, "member_id": redemption.member_id},
            note=reason,
            session=unit.session,
        )
        return redemption.model_copy(update={"status": RedemptionStatus.CANCELLED})

    async def replay(entry: Entry) -> Redemption:
        document = await mongo["redemptions"].find_one({"_id": redemption_id})
        assert document is not None
        return Redemption.model_validate(document)

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=f"cancel:{redemption_id}",
            fingerprint="cancel",
            replay=replay,
            require_entry=False,
        )
    except IdempotencyConflict:  # pragma: no cover - one fingerprint for every cancellation
        raise KeyReused("cancelled already", "redemption_id") from None


async def put_back(mongo: Mongo, session: AsyncClientSession, redemption: Redemption) -> None:
    """The units to the stock, the member's allowance, the coupon void."""
    await mongo["rewards"].update_one(
        {"_id": redemption.reward_id, "stock": {"$type": "int"}},
        {"$inc": {"stock": redemption.quantity}},
        session=session,
    )
    await mongo["reward_claims"].update_one(
        {"_id": f"{redemption.reward_id}:{redemption.member_id}"},
        {"$inc": {"quantity": -redemption.quantity}},
        session=session,
    )
    if redemption.coupon_code is not None:
        await mongo["coupon_codes"].update_one(
            {"_id": redemption.coupon_code}, {"$set": {"status": "void"}}, session=session
        )


async def use_coupon(
    mongo: Mongo,
    clock: Clock,
    code: str,
    *,
    partner_id: str,
    actor: str,
    idempotency_key: str | None = None,
) -> Redemption:
    """A partner marks a coupon used at the till; using it again is refused, as are void and
    expired ones. A partner voucher is accepted by its own partner only: to any other it does
    not exist. With an idempotency key, the till's retry of its own use (the same caller, key and
    code) answers the redemption again instead of COUPON_USED; the key on another code is a
    conflict."""
    if not 0 < len(code) <= CODE_MAX:
        raise CatalogRefused("not a coupon code", "code")
    key = None if idempotency_key is None else _key(idempotency_key)
    if key is not None:
        first = await mongo["redemptions"].find_one(
            {"coupon_used_by": actor, "coupon_use_key": key}
        )
        if first is not None:
            return _replayed_use(first, code)
    now = clock.now()
    yours = {"$in": [None, partner_id]}
    mark: Document = {"coupon_used_at": now, "coupon_used_by": actor}
    if key is not None:
        mark["coupon_use_key"] = key

    async def work(session: AsyncClientSession) -> Document | None:
        """The use, the code's status and the `coupon.used` event, together."""
        used = await mongo["redemptions"].find_one_and_update(
            {
                "coupon_code": code,
                "status": RedemptionStatus.COMPLETED.value,
                "coupon_used_at": None,
                "coupon_expires_at": {"$gt": now},
                "voucher_partner_id": yours,
            },
            {"$set": mark},
            return_document=True,
            session=session,
        )
        if used is not None:
            await mongo["coupon_codes"].update_one(
                {"_id": code}, {"$set": {"status": "used"}}, session=session
            )
            redemption = Redemption.model_validate(used)
            used_event = coupon_event("coupon.used", redemption, now, partner_id=partner_id)
            await append_many(mongo, session, [used_event])
        return used

    try:
        used = await mongo.transaction(work)
    except DuplicateKeyError:  # the same key, at the same moment, on another code
        raise KeyReused("this idempotency key used another coupon", "idempotency_key") from None
    if used is not None:
        return Redemption.model_validate(used)
    found = await mongo["redemptions"].find_one({"coupon_code": code, "voucher_partner_id": yours})
    if found is None:
        raise Missing("no such coupon", "code")
    if found.get("coupon_used_at") is not None:
        if key is not None and (found.get("coupon_used_by"), found.get("coupon_use_key")) == (
            actor,
            key,
        ):
            return Redemption.model_validate(found)  # this till's own use, raced to the line
        raise CouponUsed("the coupon was used already", "code")
    raise CatalogRefused("the coupon was cancelled or has expired", "code")
