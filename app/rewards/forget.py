"""Redacting personal data from a member's redemptions, for their erasure (app/privacy): an
operator's reason for a cancellation may name them. Rewards, points, codes and dates stay."""

from __future__ import annotations

from app.db import Mongo
from app.personal_data import PersonalData


async def redact_redemptions(mongo: Mongo, member_id: str, personal: PersonalData) -> list[str]:
    """Redact the text of the member's redemptions; their ids (the audit names them by id)."""
    ids: list[str] = []
    async for redemption in mongo["redemptions"].find({"member_id": member_id}):
        ids.append(redemption["_id"])
        reason = redemption.get("cancel_reason")
        if isinstance(reason, str) and (redacted := personal.redact(reason)) is not reason:
            await mongo["redemptions"].update_one(
                {"_id": redemption["_id"]}, {"$set": {"cancel_reason": redacted}}
            )
    return ids
