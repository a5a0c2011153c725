"""A member's side of notifications: devices, consent, the in-app list and read marks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bson import ObjectId
from bson.errors import InvalidId

from app.clock import Clock
from app.db import Document, Mongo

MAX_DEVICES = 10


class PushPlatform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class InvalidPushToken(ValueError):
    pass


@dataclass(frozen=True)
class Notification:
    id: str
    kind: str
    points: int | None
    expires_at: datetime | None
    days_left: int | None
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def from_document(cls, document: Document) -> Notification:
        return cls(
            id=str(document["_id"]),
            kind=document["kind"],
            points=document.get("points"),
            expires_at=document.get("expires_at"),
            days_left=document.get("days_left"),
            created_at=document["created_at"],
            read_at=document.get("read_at"),
        )


async def register_push_token(
    mongo: Mongo, clock: Clock, member_id: str, platform: PushPlatform, token: str
) -> None:
    """Add a device (idempotent: the same token again only refreshes it); the newest ten are kept."""
    token = token.strip()
    if not 8 <= len(token) <= 4096:
        raise InvalidPushToken("a push token is 8 to 4096 characters")
    await mongo["members"].update_one(
        {"_id": member_id}, {"$pull": {"push_tokens": {"token": token}}}
    )
    await mongo["members"].update_one(
        {"_id": member_id},
        {
            "$push": {
                "push_tokens": {
                    "$each": [
                        {"platform": platform.value, "token": token, "added_at": clock.now()}
                    ],
                    "$slice": -MAX_DEVICES,
                }
            }
        },
    )


async def unregister_push_token(mongo: Mongo, member_id: str, token: str) -> bool:
    result = await mongo["members"].update_one(
        {"_id": member_id}, {"$pull": {"push_tokens": {"token": token.strip()}}}
    )
    return result.modified_count == 1


async def set_notification_consent(
    mongo: Mongo, clock: Clock, member_id: str, granted: bool
) -> None:
    await mongo["members"].update_one(
        {"_id": member_id},
        {"$set": {"consents.notifications": granted, "consents.notifications_at": clock.now()}},
    )


async def list_notifications(
    mongo: Mongo, member_id: str, *, first: int, after: tuple[datetime, str] | None = None
) -> tuple[list[Notification], bool]:
    """Newest first, keyset-paged on (created_at, _id); returns the page and whether more follow."""
    query: Document = {"member_id": member_id}
    if after is not None:
        created_at, raw_id = after
        object_id = _object_id(raw_id)
        query["$or"] = [
            {"created_at": {"$lt": created_at}},
            {"created_at": created_at, "_id": {"$lt": object_id}},
        ]
    cursor = (
        mongo["notifications"].find(query).sort([("created_at", -1), ("_id", -1)]).limit(first + 1)
    )
    documents = [document async for document in cursor]
    return [Notification.from_document(d) for d in documents[:first]], len(documents) > first


async def mark_notifications_read(
    mongo: Mongo, clock: Clock, member_id: str, ids: list[str] | None = None
) -> int:
    """Mark some (or, with no ids, all) of the member's notifications read; returns how many changed."""
    query: Document = {"member_id": member_id, "read_at": None}
    if ids is not None:
        query["_id"] = {"$in": [_object_id(raw) for raw in ids]}
    result = await mongo["notifications"].update_many(query, {"$set": {"read_at": clock.now()}})
    return result.modified_count


def _object_id(raw: str) -> ObjectId:
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise ValueError(f"not a notification id: {raw!r}") from None
