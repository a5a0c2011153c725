"""How much of the members' points was pending and how much held at an instant: the liability's
split, summed from events in time like the entries' points (rollup.py keeps them per hour).

The entries move the members' total (available + pending + held − debt) but do not say which part
of it; that is read off the lots and holds, as moves of signed points at instants:

- pending: a lot is pending from its earn until its return window closes (`available_at`). Its
  source entry adds its points less what they paid of a debt at once (points + debt_change) when
  it occurred, and takes them away again at `available_at`; an entry that took points from the
  lot inside the window (a refund, 清零, an expiry) takes its share away when it occurred and adds
  it back at `available_at`, so what leaves pending there is what was left. The window is the
  program's, not the moment a job marked the lot available: every operation catches the lots up
  with the clock before touching them, so nothing takes from a lot past its window as pending.
- held: a hold holds its points from `created_at` until `closed_at` (captured, released, or
  released by the job after its TTL).

So pending and held as of T are the sums of their moves up to T, and available is the rest:
(available + pending + held) − pending − held. An entry's moves are all known when it is recorded
(a lot's `available_at` is fixed at issue), so the rollup adds both ends to their hours at once,
and the ends also to `ledger_maturities` by instant: an "as of" inside an hour needs the exact
ones, and a lot's window may close an hour or a month after its entries were recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.db import Document

# {_id: instant, at: the same instant, pending: Σ moves of windows closing then}: read by a range
# of `at` (indexed), since SecantusDB scans the whole collection for a range of `_id`s (2 s for
# the 100,000 instants of 200,000 entries, in every liability as of an instant inside an hour).
MATURITIES = "ledger_maturities"
Key = Callable[[str], Any]  # a $group key of a date field ("$at"): its period, or None


# Only an earn issues a lot inside a return window, and only a refund, 清零 or an expiry takes
# from one while it is (a spend, a hold or a negative adjustment take available points; a MATURE
# pays a debt once the window closed; an EXTEND lists the lots it moved, taking nothing): the
# other entries need no look at their lots.
MOVING_KINDS = ("EARN", "REVERSAL", "CLEAR", "EXPIRE")

# Per (entry, lot share): the move when the entry occurred, if the lot was inside its window then.
_WINDOW_MOVES: list[Document] = [
    {"$match": {"kind": {"$in": list(MOVING_KINDS)}}},
    {"$project": {"occurred_at": 1, "points": 1, "debt_change": 1, "lots": 1}},
    {"$unwind": "$lots"},
    {"$lookup": {"from": "lots", "localField": "lots.lot_id", "foreignField": "_id", "as": "lot"}},
    {"$unwind": "$lot"},
    {
        "$match": {
            "$expr": {
                "$and": [
                    {"$lt": ["$occurred_at", "$lot.available_at"]},
                    {"$gte": ["$occurred_at", "$lot.earned_at"]},
                ]
            },
        }
    },
    {
        "$project": {
            "start": "$occurred_at",
            "end": "$lot.available_at",
            "pending": {
                "$cond": [
                    {"$eq": ["$lot.source_entry_id", "$_id"]},
                    # an earn issues one lot: its points, less the debt they paid at once
                    {"$add": ["$points", {"$ifNull": ["$debt_change", 0]}]},
                    {"$multiply": ["$lots.points", -1]},
                ]
            },
        }
    },
]


def pending_moves(match: Document) -> list[Document]:
    """Pipeline over `ledger`: the pending moves of the entries matching `match`, one document
    each: {at, pending (signed), end (whether it is where a window closes)}."""
    return [{"$match": match}, *window_moves()]


def window_moves() -> list[Document]:
    """Pipeline stages: the pending moves of the entries that reach them (pending_moves without
    its $match, for a caller that counts the entries first)."""
    both = [
        {"at": "$start", "pending": "$pending", "end": False},
        {"at": "$end", "pending": {"$multiply": ["$pending", -1]}, "end": True},
    ]
    return [
        *_WINDOW_MOVES,
        {"$project": {"_id": 0, "moves": both}},
        {"$unwind": "$moves"},
        {"$replaceRoot": {"newRoot": "$moves"}},
    ]


def pending_sums(
    match: Document, at: Document | None, key: Key, *, ends: bool = True
) -> list[Document]:
    """Pipeline: the pending moves of the entries matching `match` with their instant in `at`
    (None: any), summed per `key`; with `ends=False` only the moves when the entries occurred."""
    only: Document = {} if ends else {"end": False}
    if at is not None:
        only["at"] = at
    return [*pending_moves(match), {"$match": only}, _sum(key("$at"), "$pending", "pending")]


def maturity_sums(at: Document, key: Key, *, indexed: bool = True) -> list[Document]:
    """Pipeline over `ledger_maturities`: the rolled-up moves of windows closing in `at`; by the
    `_id`s where the rollup has not yet stamped `at` on what it kept before (not `indexed`)."""
    return [{"$match": {"at" if indexed else "_id": at}}, _sum(key("$_id"), "$pending", "pending")]


def held_sums(field: str, at: Document, key: Key) -> list[Document]:
    """Pipeline over `holds`: the held points moved by holds opening (`created_at`) or closing
    (`closed_at`) in `at`, summed per `key`."""
    points: Any = "$points" if field == "created_at" else {"$multiply": ["$points", -1]}
    return [{"$match": {field: at}}, _sum(key(f"${field}"), points, "held")]


def _sum(key: Any, value: Any, name: str) -> Document:
    return {"$group": {"_id": key, name: {"$sum": value}}}
