"""`jifen ledger verify`: rebuild every balance from the ledger and the lots and report any drift.

The ledger is the truth: for each member the sum of entry points must equal
available + pending + held − debt, the debt the sum of the entries' debt changes, and the
lifetime counters the sums of their kinds (lifetime earned: earns less the points refunded,
taken or not). The account's front and summaries must match the lots too. The lots must agree with both: the account's
available, pending and held are sums over them, and each lot's remaining is its amount less
the debt it paid and every point entries took from it. Sums are computed by the server;
only one number per member and per lot comes back.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.db import Document, Mongo
from app.ledger import order
from app.ledger.allocation import next_expiry
from app.ledger.models import Drift, HoldStatus, LotStatus
from app.ledger.state import LotState


def _sum_of(kind: str) -> Document:
    return {"$sum": {"$cond": [{"$eq": ["$kind", kind]}, "$points", 0]}}


async def verify_balances(mongo: Mongo, member_id: str | None = None) -> list[Drift]:
    """Every difference between the stored balances and the ones the ledger and lots imply."""
    match: Document = {} if member_id is None else {"member_id": member_id}
    ledger = {
        doc["_id"]: doc
        async for doc in await mongo["ledger"].aggregate(
            [
                {"$match": match},
                {
                    "$group": {
                        "_id": "$member_id",
                        "points": {"$sum": "$points"},
                        "debt": {"$sum": "$debt_change"},
                        "earned": _sum_of("EARN"),
                        "refunded": {
                            "$sum": {
                                "$cond": [
                                    {"$eq": ["$kind", "REVERSAL"]},
                                    # a refund's account, or what it took; a positive REVERSAL
                                    # (a cancelled redemption's points given back) refunds nothing
                                    {
                                        "$ifNull": [
                                            "$refund.points",
                                            {"$max": [0, {"$multiply": ["$points", -1]}]},
                                        ]
                                    },
                                    0,
                                ]
                            }
                        },
                        "redeemed": _sum_of("REDEEM"),
                        "expired": _sum_of("EXPIRE"),
                    }
                },
            ]
        )
    }
    taken = {
        doc["_id"]: doc["points"]
        async for doc in await mongo["ledger"].aggregate(
            [
                {"$match": {**match, "points": {"$lt": 0}}},
                {"$unwind": "$lots"},
                {"$group": {"_id": "$lots.lot_id", "points": {"$sum": "$lots.points"}}},
            ]
        )
    }
    on_hold = {
        doc["_id"]: doc["points"]
        async for doc in await mongo["holds"].aggregate(
            [
                {"$match": {**match, "status": HoldStatus.ACTIVE.value}},
                {"$group": {"_id": "$member_id", "points": {"$sum": "$points"}}},
            ]
        )
    }
    lots: dict[str, list[LotState]] = defaultdict(list)
    drifts: list[Drift] = []
    async for doc in mongo["lots"].find(match):
        lot = LotState.from_document(doc)
        lots[lot.member_id].append(lot)
        drifts.extend(_check_lot(lot, taken.get(lot.id, 0)))
    account_query: Document = {} if member_id is None else {"_id": member_id}
    accounts = {doc["_id"]: doc async for doc in mongo["accounts"].find(account_query)}
    for member in sorted(set(accounts) | set(ledger) | set(lots)):
        drifts.extend(
            _check_account(
                member,
                accounts.get(member),
                ledger.get(member),
                lots.get(member, []),
                on_hold.get(member, 0),
            )
        )
    return drifts


def _check_lot(lot: LotState, taken: int) -> list[Drift]:
    who = lot.member_id
    drifts = []
    if not 0 <= lot.held <= lot.remaining <= lot.amount:
        drifts.append(
            Drift(who, "lot.bounds", (lot.held, lot.remaining, lot.amount), None, str(lot.id))
        )
    rebuilt = lot.amount - lot.debt_paid - taken
    if lot.remaining != rebuilt:
        drifts.append(Drift(who, "lot.remaining", lot.remaining, rebuilt, str(lot.id)))
    if lot.remaining == 0 and lot.status in (LotStatus.PENDING, LotStatus.AVAILABLE):
        drifts.append(Drift(who, "lot.status", lot.status.value, "exhausted", str(lot.id)))
    return drifts


def _check_account(
    member: str,
    account: Document | None,
    ledger: Document | None,
    lots: list[LotState],
    on_hold: int,
) -> list[Drift]:
    stored: dict[str, Any] = account or {}
    sums: Document = ledger or {}
    soonest = next_expiry([lot for lot in lots if lot.status is LotStatus.AVAILABLE])
    rebuilt: dict[str, Any] = {
        "available": sum(lot.free for lot in lots if lot.status is LotStatus.AVAILABLE),
        "pending": sum(lot.remaining for lot in lots if lot.status is LotStatus.PENDING),
        "held": sum(lot.held for lot in lots),
        "debt": sums.get("debt", 0),
        "lifetime_earned": sums.get("earned", 0) - sums.get("refunded", 0),
        "lifetime_redeemed": -sums.get("redeemed", 0),
        "lifetime_expired": -sums.get("expired", 0),
        "next_expiry": None
        if soonest is None
        else {"expires_at": soonest[0], "points": soonest[1]},
    }
    drifts = [
        Drift(member, name, stored.get(name, 0 if name != "next_expiry" else None), value)
        for name, value in rebuilt.items()
        if stored.get(name, 0 if name != "next_expiry" else None) != value
    ]
    drifts += _check_front(member, stored, lots)
    if rebuilt["held"] != on_hold:
        drifts.append(Drift(member, "held.holds", rebuilt["held"], on_hold, "lots vs active holds"))
    balance = sum(stored.get(name, 0) for name in ("available", "pending", "held")) - stored.get(
        "debt", 0
    )
    if balance != sums.get("points", 0):
        drifts.append(Drift(member, "ledger.points", balance, sums.get("points", 0)))
    return drifts


def _check_front(member: str, stored: dict[str, Any], lots: list[LotState]) -> list[Drift]:
    """The account's front is a prefix of the spending order, and its summaries match the lots."""
    free = sorted(
        (lot for lot in lots if lot.status is LotStatus.AVAILABLE and lot.free > 0),
        key=lambda lot: lot.order,
    )
    end = stored.get("front_end")
    expected = [(lot.order, lot.id, lot.free) for lot in free if end is None or lot.order <= end]
    front = [(e["k"], e["id"], e["f"]) for e in stored.get("front", [])]
    drifts = []
    if front != expected:
        drifts.append(Drift(member, "front", front, expected))
    dated = [lot for lot in free if lot.order.startswith(order.DATED)]
    want = None
    if dated:
        at = dated[0].expires_at
        want = {"expires_at": at, "points": sum(lot.free for lot in dated if lot.expires_at == at)}
    if stored.get("dated_next") != want:
        drifts.append(Drift(member, "dated_next", stored.get("dated_next"), want))
    for cls in stored.get("classes", []):
        mine = [lot for lot in lots if lot.inactivity == cls["name"] and lot.live]
        rebuilt = {"free": sum(lot.available for lot in mine), "lots": len(mine)}
        if {"free": cls["free"], "lots": cls["lots"]} != rebuilt:
            drifts.append(Drift(member, f"classes.{cls['name']}", cls, rebuilt))
        late = [lot for lot in mine if lot.expires_at != cls["expires_at"]]
        if late:
            drifts.append(Drift(member, f"classes.{cls['name']}.expires_at", cls, str(late[0].id)))
    return drifts
