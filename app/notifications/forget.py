"""Forgetting a member's devices and redacting their notifications, for their erasure
(app/privacy).

The in-app notifications stay (their points and dates are the member's history, and an
ACCESS_REVOKED event is what every process's Revocations reads after a restart) with their text
redacted. Deliveries keep their record without the device tokens; one not yet delivered is
dead-lettered, since there is no device left to deliver it to (so an erasure's own ACCESS_REVOKED
push never reaches the device: the app learns it at its next request). The device bindings go.
"""

from __future__ import annotations

from app.db import Mongo
from app.notifications.outbox import DeliveryStatus
from app.notifications.service import device_key
from app.personal_data import PersonalData

ERASED_DELIVERY = "not delivered: the member was erased"
KEPT = frozenset({"_id", "kind", "member_id", "created_at", "read_at", "dedupe_key"})


async def forget_notifications(mongo: Mongo, member_id: str, personal: PersonalData) -> None:
    """Idempotent: a second run finds nothing left to change."""
    async for document in mongo["notifications"].find({"member_id": member_id}):
        update = personal.changes(document, KEPT)
        if update:
            await mongo["notifications"].update_one({"_id": document["_id"]}, {"$set": update})
    undelivered = [DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value]
    await mongo["outbox"].update_many(
        {"member_id": member_id, "status": {"$in": undelivered}},
        {
            "$set": {"status": DeliveryStatus.DEAD.value, "last_error": ERASED_DELIVERY},
            "$unset": {"claimed_until": ""},
        },
    )
    async for delivery in mongo["outbox"].find({"member_id": member_id}):
        payload = {k: v for k, v in (delivery.get("payload") or {}).items() if k != "devices"}
        update = {
            "payload": personal.redact(payload),
            "last_error": personal.redact(delivery.get("last_error")),
        }
        if update != {"payload": delivery.get("payload"), "last_error": delivery.get("last_error")}:
            await mongo["outbox"].update_one({"_id": delivery["_id"]}, {"$set": update})
    digests = [device_key(token) for token in personal.tokens]
    if digests:
        await mongo["push_devices"].delete_many({"_id": {"$in": digests}, "member_id": member_id})
