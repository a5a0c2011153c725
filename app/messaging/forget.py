"""Forgetting a member's messages, for their erasure (app/privacy).

The delivery records stay (an operator's totals count them) with their text, addresses and
devices redacted; one not sent yet is dead-lettered, since there is no one left to send it to.
The member's preferences go (they hold the addresses a provider refused), and so do their
replies to SMS (their phone and words).
"""

from __future__ import annotations

from app.db import Mongo
from app.messaging.records import Status
from app.personal_data import PersonalData

ERASED_MESSAGE = "not sent: the member was erased"
KEPT = frozenset(
    {"_id", "notification_id", "member_id", "kind", "channel", "status", "reason", "created_at"}
)


async def forget_messages(mongo: Mongo, member_id: str, personal: PersonalData) -> None:
    """Idempotent: a second run finds nothing left to change."""
    await mongo["messages"].update_many(
        {"member_id": member_id, "status": {"$in": [Status.QUEUED.value, Status.SENDING.value]}},
        {
            "$set": {"status": Status.FAILED.value, "error": ERASED_MESSAGE},
            "$unset": {"claimed_until": "", "devices": ""},
        },
    )
    async for document in mongo["messages"].find({"member_id": member_id}):
        update = personal.changes(document, KEPT)
        unset = {"devices": ""} if document.get("devices") else {}
        if update or unset:
            change: dict[str, object] = {"$set": update} if update else {}
            if unset:
                change["$unset"] = unset
            await mongo["messages"].update_one({"_id": document["_id"]}, change)
    await mongo["message_preferences"].delete_one({"_id": member_id})
    await mongo["sms_replies"].delete_many({"member_id": member_id})
