"""Reading a member's balance (one document) and pages of their ledger entries."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId

from app.db import Document, Mongo
from app.ledger.models import Balance, Entry, EntryKind


async def get_balance(mongo: Mongo, member_id: str) -> Balance:
    """The member's balances and next expiry: one read of the account document."""
    doc = await mongo["accounts"].find_one({"_id": member_id})
    return Balance(member_id) if doc is None else Balance.from_document(doc)


async def list_entries(
    mongo: Mongo,
    member_id: str,
    *,
    limit: int = 50,
    before: tuple[datetime, str] | None = None,
    kinds: tuple[EntryKind, ...] = (),
) -> list[Entry]:
    """The member's entries, newest first, by (occurred_at desc, _id desc); `before` is the last one seen."""
    query: Document = {"member_id": member_id}
    if kinds:
        query["kind"] = {"$in": [kind.value for kind in kinds]}
    if before is not None:
        at, entry_id = before
        oid = ObjectId(entry_id)
        query["$or"] = [{"occurred_at": {"$lt": at}}, {"occurred_at": at, "_id": {"$lt": oid}}]
    cursor = mongo["ledger"].find(query).sort([("occurred_at", -1), ("_id", -1)]).limit(limit)
    return [Entry.from_document(doc) async for doc in cursor]
