"""Erasure's share in the webhooks: the member's events and the bodies sent or to be sent.

An event copies what its change wrote (an entry's reason, a redemption's cancellation text), so
an erased member's name, phone or e-mail can be in the events not yet handed out (`events`), in
the archive kept for replays (`webhook_events`) and in each delivery's body. Their text is
redacted in place; ids, types, points and times stay (the brand's systems keep counting right).
What an endpoint already received is the brand's to erase.
"""

from __future__ import annotations

from app.db import Mongo
from app.event_log import EVENTS
from app.personal_data import PersonalData
from app.webhooks.delivery import ARCHIVE
from app.webhooks.endpoints import DELIVERIES, ENDPOINTS

KEPT = frozenset({"_id", "member_id", "type", "v", "occurred_at", "queue", "event_id", "state"})


async def forget_events(mongo: Mongo, member_id: str, personal: PersonalData) -> int:
    """Redact the member's personal data from events and deliveries; how many documents changed."""
    if not personal:
        return 0
    endpoints = [e["_id"] async for e in mongo[ENDPOINTS].find({}, {"_id": 1})]
    queues = [f"{endpoint}|{member_id}" for endpoint in endpoints]
    changed = 0
    for name, query in (
        (EVENTS, {"member_id": member_id}),
        (ARCHIVE, {"member_id": member_id}),
        (DELIVERIES, {"queue": {"$in": queues}}),
    ):
        async for document in mongo[name].find(query):
            update = personal.changes(document, KEPT)
            if update:
                await mongo[name].update_one({"_id": document["_id"]}, {"$set": update})
                changed += 1
    return changed
