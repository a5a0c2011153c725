"""Redacting personal data from a member's entries and holds, for their erasure (app/privacy).

Only text changes: an operator's reason, a partner's reference. Points, lots, kinds, numbers and
keys stay as they were, so every balance and the verification still add up; an entry's
idempotency key and request hash stay too, so a retried request is still recognised.
"""

from __future__ import annotations

from app.db import Mongo
from app.personal_data import PersonalData

KEPT = frozenset({"_id", "member_id", "idempotency_key", "request_hash"})


async def redact_entries(mongo: Mongo, member_id: str, personal: PersonalData) -> int:
    """Redact the text of the member's entries and holds; how many documents changed."""
    changed = 0
    if not personal:
        return changed
    for name in ("ledger", "holds"):
        async for document in mongo[name].find({"member_id": member_id}):
            update = personal.changes(document, KEPT)
            if update:
                await mongo[name].update_one({"_id": document["_id"]}, {"$set": update})
                changed += 1
    return changed
