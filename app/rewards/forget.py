"""Redacting personal data from a member's redemptions, for their erasure (app/privacy): an
operator's reason for a cancellation may name them, and a shipped reward's address is theirs
(dropped, with their address book). Rewards, points, codes, carriers and dates stay."""

from __future__ import annotations

from app.db import Mongo
from app.personal_data import PersonalData
from app.rewards.addresses import BOOKS


async def redact_redemptions(mongo: Mongo, member_id: str, personal: PersonalData) -> list[str]:
    """Redact the text of the member's redemptions; their ids (the audit names them by id)."""
    ids: list[str] = []
    await mongo[BOOKS].delete_one({"_id": member_id})
    await mongo["redemptions"].update_many(
        {"member_id": member_id, "shipping_address": {"$type": "object"}},
        {"$set": {"shipping_address": None}},
    )
    async for redemption in mongo["redemptions"].find({"member_id": member_id}):
        ids.append(redemption["_id"])
        reason = redemption.get("cancel_reason")
        if isinstance(reason, str) and (redacted := personal.redact(reason)) is not reason:
            await mongo["redemptions"].update_one(
                {"_id": redemption["_id"]}, {"$set": {"cancel_reason": redacted}}
            )
    return ids
