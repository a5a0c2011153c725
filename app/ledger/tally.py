"""Tallies: counters another area keeps on the member's account, moved in the earn's own command.

The tiers count the qualifying points of each local day (app.members.tiers). In a collection of
their own, every purchase and check-in paid one more command in its transaction to count them;
on the account, under a field of their own (`tier_progress`), an express earn (app.ledger.express)
moves them in the same findAndModify that moves the points, whether or not the earn fits its
simple rules. The ledger never reads a tally, and its own account writes ($set of its own fields,
app.ledger.store) leave it as it is: the owner reads and writes it with the functions here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo, upsert_and_get


@dataclass(frozen=True, slots=True)
class Tally:
    """What to move under the account's field `name`: paths (dotted, under it) to add to, and
    paths to lower to an instant (set when missing)."""

    name: str
    add: Mapping[str, int] = field(default_factory=dict)
    least: Mapping[str, datetime] = field(default_factory=dict)

    def stage(self) -> Document:
        """The move as a stage of an update pipeline, over the account as the stages before left
        it (a missing counter counts from 0; $min ignores a missing instant)."""
        changes: Document = {}
        for path, points in self.add.items():
            full = f"{self.name}.{path}"
            changes[full] = {"$add": [{"$ifNull": [f"${full}", 0]}, points]}
        for path, at in self.least.items():
            full = f"{self.name}.{path}"
            changes[full] = {"$min": [f"${full}", at]}
        return {"$set": changes}

    def update(self) -> Document:
        """The move as update operators."""
        update: Document = {}
        if self.add:
            update["$inc"] = {f"{self.name}.{path}": n for path, n in self.add.items()}
        if self.least:
            update["$min"] = {f"{self.name}.{path}": at for path, at in self.least.items()}
        return update

    def applied(self, account: Document | None) -> Document:
        """The tally after the move, from the account as it was before it (None: no account)."""
        tally: Document = copy.deepcopy((account or {}).get(self.name) or {})
        for path, points in self.add.items():
            parent, key = _parent(tally, path)
            parent[key] = parent.get(key, 0) + points
        for path, at in self.least.items():
            parent, key = _parent(tally, path)
            parent[key] = at if parent.get(key) is None else min(parent[key], at)
        return tally


def _parent(tally: Document, path: str) -> tuple[dict[str, Any], str]:
    *parents, key = path.split(".")
    for name in parents:
        tally = tally.setdefault(name, {})
    return tally, key


async def move_tally(
    mongo: Mongo, session: AsyncClientSession | None, member_id: str, tally: Tally
) -> Document:
    """Move the tally on its own (one command); the tally after."""
    account = await upsert_and_get(
        mongo["accounts"], {"_id": member_id}, tally.update(), session=session
    )
    return dict(account.get(tally.name) or {})


async def read_tally(
    mongo: Mongo, member_id: str, name: str, session: AsyncClientSession | None = None
) -> Document | None:
    """The member's tally `name` (None: none yet)."""
    account = await mongo["accounts"].find_one({"_id": member_id}, {name: 1}, session=session)
    return None if account is None else account.get(name)


async def write_tally(
    mongo: Mongo,
    session: AsyncClientSession,
    member_id: str,
    name: str,
    *,
    values: Document,
    unset: Iterable[str] = (),
) -> None:
    """Set paths of the tally `name` (dotted, under it) and remove others."""
    update: Document = {"$set": {f"{name}.{path}": value for path, value in values.items()}}
    removed = {f"{name}.{path}": "" for path in unset}
    if removed:
        update["$unset"] = removed
    await mongo["accounts"].update_one({"_id": member_id}, update, session=session)


async def tallies_due(mongo: Mongo, path: str, now: datetime, limit: int) -> list[str]:
    """The members whose tally instant at `path` (the tally's name and the path under it) has
    come, soonest first (an index of app.db.INDEXES on `accounts` holds `path`)."""
    cursor = mongo["accounts"].find({path: {"$lte": now}}, {"_id": 1}).sort(path, 1).limit(limit)
    return [document["_id"] async for document in cursor]
