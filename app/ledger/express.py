"""An earn in one command on the account: the account's read and write are one findAndModify.

An earn changes a member's account by rules simple enough for the database to apply (counters
moved, the new lot appended to the front, the soonest dated expiry moved) as long as nothing else
is at stake: no debt to pay first, nothing due to mature or expire, no hold past its TTL to
release (app.ledger.lapse), no inactivity policy to join or renew, a closed account's refusal, no
bound reached, and, for points available at once, a front that either holds every free point and
has room at its end for the new lot, or ends before it.
`earn_or_read` sends one update stage (a member's first earn makes the account; else the earn
applies when it fits; else the account stays as it is) and gets the account as it was before.
The guard is written twice, as the stage's expression and in Python (`_fits`), over the same
document: when it fitted, the account is written and only the lot and the entry remain to insert
(an earn is the account, the lot, the entry and the commit: four commands, where a read first
made five); when not, nothing changed, and the document is the read the book (app.ledger.book)
needs to do the earn by its full rules. The stage is kept small: SecantusDB evaluates each
expression in Python, and every one costs the database CPU.

What the stage writes is what `Book.account_document` would write for the same earn:
tests/ledger/test_express.py compares the two over random books, and the property tests
(tests/ledger/test_model.py) and `jifen ledger verify` check the books it leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from app.bounds import MAX_ACCOUNT_POINTS
from app.db import Document, Mongo
from app.ledger import order
from app.ledger.book import front as fronts
from app.ledger.models import UNKNOWN_HOLD_DUE, stored_hold_due
from app.ledger.tally import Tally

_DEFAULTS: Document = {
    "available": 0,
    "pending": 0,
    "held": 0,
    "debt": 0,
    "lifetime_earned": 0,
    "lifetime_redeemed": 0,
    "lifetime_expired": 0,
    "lots_issued": 0,
    "version": 0,
    "seq": 0,
}


@dataclass(frozen=True, slots=True)
class Credit:
    """An earn's new lot as the account sees it."""

    points: int
    key_prefix: str  # the lot's place in the spending order without its seq (order.lot_key)
    expires_at: datetime | None
    pending: bool  # pending until `pending_due` (its return window), else available at once
    pending_due: datetime  # when a pending lot matures or expires, if sooner (LotState)
    activity_at: datetime  # the earn's instant, never after now (Book._activity)
    now: datetime


def _fits(doc: Document | None, credit: Credit) -> bool:
    """Whether the account takes the earn by the simple rules: the pipeline's guard, in Python,
    over the account as it was (None: a new account, which always does)."""
    if doc is None or "version" not in doc:
        return True
    now, points = credit.now, credit.points
    if doc["debt"] != 0 or doc.get("closed") is True or doc["classes"] != []:
        return False
    dated, pending_due = doc["dated_next"], doc["pending_due"]
    if (dated is not None and dated["expires_at"] <= now) or (
        pending_due is not None and pending_due <= now
    ):
        return False
    hold_due = stored_hold_due(doc)
    if hold_due is not None and hold_due <= now:  # a hold lapsed: the book releases it (lapse.py)
        return False
    if doc["lifetime_earned"] > MAX_ACCOUNT_POINTS - points:
        return False
    if doc["available"] + doc["pending"] + doc["held"] > MAX_ACCOUNT_POINTS - points:
        return False
    front, end = doc["front"], doc["front_end"]
    if end is not None and not _healthy(front, end):
        return False
    if credit.pending:
        return True
    if end is not None:  # the new lot lies past the known front: the front stays as it is
        return bool(_key(credit.key_prefix, doc["lots_issued"] + 1) > end)
    # a front that holds every free point takes the new lot at its end, with room for it
    return len(front) < fronts.FRONT_SIZE and (
        not front or front[-1]["k"] < credit.key_prefix + order.END
    )


def _healthy(front: list[Document], end: str) -> bool:
    """A partial front the book would not refill after the earn (not Book.needs_refill(0))."""
    if len(front) < fronts.FRONT_LOW:
        return False
    return end >= order.DATED + order.END or front[0]["k"] < order.DATED + order.END


def _key(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:0{order.SEQ_WIDTH}d}"


# Expressions over the stored account (its shape: Book.account_document, and seq). Paths into
# an array's documents go through $let ("$front.k" is not read through an array by every server).
_NEVER = order.FAR_FUTURE  # what nothing due compares as
# An account's hold_due, or when it has none: at once if points are held (an account written
# before it kept one), else never.
_UNKNOWN_OR_NEVER = {"$cond": [{"$gt": ["$held", 0]}, UNKNOWN_HOLD_DUE, _NEVER]}
_KEY_OFFSET = 10**order.SEQ_WIDTH  # str(offset + seq)[1:] is seq zero-padded to SEQ_WIDTH
_FIRST_KEY = {"$let": {"vars": {"e": {"$arrayElemAt": ["$front", 0]}}, "in": "$$e.k"}}
_LAST_KEY = {"$let": {"vars": {"e": {"$arrayElemAt": ["$front", -1]}}, "in": "$$e.k"}}


def _new_key(prefix: str) -> Document:
    """The new lot's key: the prefix and the account's next lot number."""
    seq = {"$toString": {"$add": ["$lots_issued", 1 + _KEY_OFFSET]}}
    return {"$concat": [prefix, {"$substrCP": [seq, 1, order.SEQ_WIDTH]}]}


def _guard(credit: Credit) -> Document:
    """`_fits` for an account that exists, as an expression."""
    now, room = credit.now, MAX_ACCOUNT_POINTS - credit.points
    healthy = {
        "$and": [
            {"$gte": [{"$size": "$front"}, fronts.FRONT_LOW]},
            {
                "$or": [
                    {"$gte": ["$front_end", order.DATED + order.END]},
                    {"$lt": [_FIRST_KEY, order.DATED + order.END]},
                ]
            },
        ]
    }
    if credit.pending:
        front = {"$or": [{"$eq": ["$front_end", None]}, healthy]}
    else:
        # (an empty front's last key is missing, which sorts before any string)
        appended = {
            "$and": [
                {"$lt": [{"$size": "$front"}, fronts.FRONT_SIZE]},
                {"$lt": [_LAST_KEY, credit.key_prefix + order.END]},
            ]
        }
        past = {"$and": [healthy, {"$gt": [_new_key(credit.key_prefix), "$front_end"]}]}
        front = {"$cond": [{"$eq": ["$front_end", None]}, appended, past]}
    return {
        "$and": [
            {"$eq": ["$debt", 0]},
            {"$ne": ["$closed", True]},
            {"$eq": ["$classes", []]},
            {"$gt": [{"$ifNull": ["$dated_next.expires_at", _NEVER]}, now]},
            {"$gt": [{"$ifNull": ["$pending_due", _NEVER]}, now]},
            {"$gt": [{"$ifNull": ["$hold_due", _UNKNOWN_OR_NEVER]}, now]},
            {"$lte": ["$lifetime_earned", room]},
            {"$lte": [{"$add": ["$available", "$pending", "$held"]}, room]},
            front,
        ]
    }


def _changes(credit: Credit, lot_id: ObjectId) -> Document:
    """What the earn changes on an account that exists (Book.credit, then account_document)."""
    points, pending = credit.points, credit.pending
    counter = "pending" if pending else "available"
    changes: Document = {
        counter: {"$add": [f"${counter}", points]},
        "lifetime_earned": {"$add": ["$lifetime_earned", points]},
        "last_activity_at": {"$max": ["$last_activity_at", credit.activity_at]},
        "lots_issued": {"$add": ["$lots_issued", 1]},
        "version": {"$add": ["$version", 1]},
        "updated_at": credit.now,
        "seq": {"$add": [{"$ifNull": ["$seq", 0]}, 1]},
    }
    dated: Any = "$dated_next"
    if pending:
        due = credit.pending_due
        changes["pending_due"] = {
            "$cond": [{"$eq": ["$pending_due", None]}, due, {"$min": ["$pending_due", due]}]
        }
    else:
        entry = {"k": _new_key(credit.key_prefix), "id": lot_id, "f": points}
        complete = {"$eq": ["$front_end", None]}
        changes["front"] = {"$cond": [complete, {"$concatArrays": ["$front", [entry]]}, "$front"]}
        at = credit.expires_at
        if at is not None:
            # none yet: the new lot is the first dated one when the front takes it (else none)
            dated = {
                "$cond": [
                    {"$eq": ["$dated_next", None]},
                    {"$cond": [complete, {"$literal": {"expires_at": at, "points": points}}, None]},
                    {
                        "$cond": [
                            {"$eq": ["$dated_next.expires_at", at]},
                            {"expires_at": at, "points": {"$add": ["$dated_next.points", points]}},
                            "$dated_next",
                        ]
                    },
                ]
            }
    # next_expiry follows from dated_next (no inactivity policy on the account: no classes)
    changes["$dated"] = dated
    return changes


def _created(credit: Credit, member_id: str, lot_id: ObjectId) -> Document:
    """The account a member's first earn makes (Book.account_document of a new account)."""
    points, now, available = credit.points, credit.now, not credit.pending
    dated = None
    if available and credit.expires_at is not None:
        dated = {"expires_at": credit.expires_at, "points": points}
    return {
        "_id": member_id,
        "available": points if available else 0,
        "pending": 0 if available else points,
        "held": 0,
        "debt": 0,
        "lifetime_earned": points,
        "lifetime_redeemed": 0,
        "lifetime_expired": 0,
        "next_expiry": dated,
        "dated_next": dated,
        "front": [{"k": _key(credit.key_prefix, 1), "id": lot_id, "f": points}]
        if available
        else [],
        "front_end": None,
        "classes": [],
        "pending_due": None if available else credit.pending_due,
        "hold_due": None,
        "last_activity_at": credit.activity_at,
        "lots_issued": 1,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "seq": 1,
    }


def _pipeline(credit: Credit, member_id: str, lot_id: ObjectId) -> list[Document]:
    """One stage: a new account as the first earn makes it (keeping a tally already there,
    app.ledger.tally), else the earn if it fits, else the account unchanged."""
    changes = _changes(credit, lot_id)
    dated = changes.pop("$dated")
    changed = {
        "$let": {
            "vars": {"d": dated},
            "in": {
                "$mergeObjects": [
                    "$$ROOT",
                    changes,
                    {
                        "dated_next": "$$d",
                        "next_expiry": {"$cond": [{"$gt": ["$$d.points", 0]}, "$$d", None]},
                    },
                ]
            },
        }
    }
    return [
        {
            "$replaceWith": {
                "$cond": [
                    {"$eq": [{"$type": "$version"}, "missing"]},
                    {
                        "$mergeObjects": [
                            "$$ROOT",
                            {"$literal": _created(credit, member_id, lot_id)},
                        ]
                    },
                    {"$cond": [_guard(credit), changed, "$$ROOT"]},
                ]
            }
        }
    ]


async def earn_or_read(
    mongo: Mongo,
    session: AsyncClientSession,
    member_id: str,
    credit: Credit,
    lot_id: ObjectId,
    tally: Tally | None = None,
) -> tuple[bool, Document | None]:
    """Apply the earn to the account if it fits the simple rules, and move `tally` whether it
    fits or not; the account as it was before (None: there was none) and whether the earn was
    applied."""
    pipeline = _pipeline(credit, member_id, lot_id)
    if tally is not None:
        pipeline.append(tally.stage())
    before = await mongo["accounts"].find_one_and_update(
        {"_id": member_id},
        pipeline,
        upsert=True,
        return_document=ReturnDocument.BEFORE,
        session=session,
    )
    return _fits(before, credit), before


def counters(before: Document | None) -> Document:
    """The account's counters before the earn (a new account's when it made one)."""
    if before is None or "version" not in before:
        return dict(_DEFAULTS)
    return {**_DEFAULTS, **before}
