"""Points that paid for a partner's order (积分抵扣), kept so a refund gives back only what was paid,
to the member who paid it.

An order id belongs to one member, whichever comes first: a hold or capture of the member's points
for it binds it in `orders` (claim_order), where a purchase for another member then fails on the
order's `_id`; a hold or capture for an order id posted or bound for another member is refused
(OrderOfAnotherMember). `order_points` holds one document per (partner, order id): the member
whose points paid (set by the first capture), each capture entry with its points, and how many of
each were given back by refunds; a purchase's pointsUsed counts only captures of its own member.
Whatever was recorded, a refund gives points back through the capture entries (app.ledger's
restore): to the member they were taken from, under the terms of the lots they came from.
A binding whose hold ended with nothing paid (released, or past its TTL) is given up when another
member asks for the order id (free_binding): a till that released one member's points may post
the order for another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import Entry, LedgerUnit, holds_live
from app.partners.errors import OrderOfAnotherMember
from app.partners.orders import BOUND, order_id_of

T = TypeVar("T")
HOLD_FIELD = ("hold_id",)


async def claim_order(
    mongo: Mongo,
    session: AsyncClientSession,
    order_key: str,
    member_id: str,
    field: tuple[str, ...] = OrderOfAnotherMember.field,
) -> None:
    """The order id is the member's from now on, in the caller's transaction: an order posted
    for another member, or held or paid for with another member's points, is refused.

    One command on the order's own document (`orders`, `_id` the order key): when nothing was
    posted yet the upsert leaves a binding there ({_id, member_id}, no `request_hash`), which a
    purchase for the same member fills in and a purchase for another member fails on
    (app.partners.purchases). A hold and a purchase racing for a new order id both write that
    `_id`: one transaction conflicts, reruns and is refused, so one member owns the order."""
    try:
        await mongo["orders"].update_one(
            {"_id": order_key, "member_id": member_id},
            {"$setOnInsert": {"member_id": member_id}},
            upsert=True,
            session=session,
        )
    except DuplicateKeyError:
        raise OrderOfAnotherMember(field) from None


async def record_capture(
    mongo: Mongo,
    session: AsyncClientSession,
    order_key: str,
    member_id: str,
    entry_id: str,
    points: int,
) -> None:
    """Inside the capture's transaction; two captures for one order serialise on this document.
    One command: the upsert's filter fails to match another member's document, and its insert
    then fails on the order's id (OrderOfAnotherMember on the hold)."""
    try:
        await mongo["order_points"].update_one(
            {"_id": order_key, "member_id": {"$in": [member_id, None]}},
            {"$set": {"member_id": member_id, f"captures.{entry_id}": points}},
            upsert=True,
            session=session,
        )
    except DuplicateKeyError:
        raise OrderOfAnotherMember(HOLD_FIELD) from None


async def captured_for(
    mongo: Mongo, session: AsyncClientSession | None, order_key: str, member_id: str
) -> int:
    """The points captured from `member_id` for the order (another member's are refused)."""
    document = await mongo["order_points"].find_one({"_id": order_key}, session=session)
    if document is None:
        return 0
    if document.get("member_id") not in (None, member_id):
        raise OrderOfAnotherMember()
    return sum(int(points) for points in document.get("captures", {}).values())


async def give_back(
    mongo: Mongo,
    unit: LedgerUnit,
    order_key: str,
    points: int,
    *,
    reason: str,
    actor: str,
    reference: str,
    extra: Document,
) -> list[Entry]:
    """Give back `points` of those captured for the order, oldest capture first, each through its
    capture entry (LedgerUnit.restore): to the member it was taken from, with its lots' terms.
    Never more than was captured: what no capture covers is not given (it was never paid)."""
    document = await mongo["order_points"].find_one({"_id": order_key}, session=unit.session)
    captures: dict[str, int] = (document or {}).get("captures", {})
    given: dict[str, int] = (document or {}).get("returned", {})
    entries, returned = [], {}
    for entry_id in sorted(captures, key=ObjectId):
        left = int(captures[entry_id]) - int(given.get(entry_id, 0))
        take = min(points, left)
        if take <= 0:
            continue
        entries.append(
            await unit.restore(
                entry_id,
                points=take,
                after=int(given.get(entry_id, 0)),
                reason=reason,
                actor=actor,
                channel="partner",
                reference=reference,
                extra=extra,
            )
        )
        returned[f"returned.{entry_id}"] = take
        points -= take
    if returned:
        await mongo["order_points"].update_one(
            {"_id": order_key}, {"$inc": returned}, session=unit.session
        )
    return entries


def hold_key_prefix(partner_id: str) -> str:
    """What every idempotency key of the partner's holds starts with (app.partners.offsets)."""
    return f"partner:{partner_id}:hold:"


async def free_binding(
    mongo: Mongo, order_key: str, *, partner_id: str, order_id: str, now: datetime
) -> bool:
    """Give up the order id's binding to a member whose hold for it ended with nothing paid:
    bound only (not posted), no point ever captured for it, and no hold of that member for it
    active at `now`. Whether it was given up (the caller then asks again, once).

    A hold that member makes meanwhile is not undone: its capture then finds the order id
    another member's and is refused, so no point moves between members either way."""
    document = await mongo["orders"].find_one({"_id": order_key, **BOUND})
    if document is None:
        return False
    if await mongo["order_points"].find_one({"_id": order_key}, {"_id": 1}) is not None:
        return False
    member_id = document["member_id"]
    prefix = hold_key_prefix(partner_id)
    if await holds_live(mongo, member_id, reference=order_id, key_prefix=prefix, now=now):
        return False
    binding = {"_id": order_key, "member_id": member_id, **BOUND}
    return (await mongo["orders"].delete_one(binding)).deleted_count == 1


async def once_more_if_freed(
    mongo: Mongo,
    clock: Clock,
    partner_id: str,
    order_id: str,
    attempt: Callable[[], Awaitable[T]],
) -> T:
    """`attempt()`, and when it finds the order id another member's (OrderOfAnotherMember) by a
    binding `free_binding` gives up, `attempt()` once more: a hold or a purchase after a hold of
    another member's points for the order ended unpaid."""
    try:
        return await attempt()
    except OrderOfAnotherMember:
        order_key = order_id_of(partner_id, order_id)
        if not await free_binding(
            mongo, order_key, partner_id=partner_id, order_id=order_id, now=clock.now()
        ):
            raise
    return await attempt()
