"""A member's side of notifications: devices, consent, the in-app list and read marks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo, newest_first

MAX_DEVICES = 10


class PushPlatform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class InvalidPushToken(ValueError):
    pass


class DeviceNotFound(Exception):
    """The member has no device with this push token."""


class NotANotificationId(ValueError):
    """An id that no notification can have (not an ObjectId)."""


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
    """Add a device (idempotent: the same token again only refreshes it); the newest ten are kept.

    A device token belongs to one member: registering it moves it from whoever held it, so a phone
    that changes hands, or a token copied from someone else's device, stops reaching the earlier
    member. Its `push_devices` document (by the token's digest) is what concurrent registrations
    of the same token serialise on; it keeps the last 20 members who held it (`holders`), which
    tells a referral ring (app/referrals: referrer and referred on one device).
    """
    token = token.strip()
    if not 8 <= len(token) <= 4096:
        raise InvalidPushToken("a push token is 8 to 4096 characters")
    device = {"platform": platform.value, "token": token, "added_at": clock.now()}

    async def bind(session: AsyncClientSession) -> None:
        previous = await mongo["push_devices"].find_one_and_update(
            {"_id": device_key(token)},
            {
                "$set": {"member_id": member_id, "bound_at": clock.now()},
                "$push": {"holders": {"$each": [member_id], "$slice": -20}},
            },
            upsert=True,
            session=session,
        )
        holders = {member_id} | ({previous["member_id"]} if previous else set())
        await mongo["members"].update_many(
            {"_id": {"$in": sorted(holders)}},
            {"$pull": {"push_tokens": {"token": token}}},
            session=session,
        )
        await mongo["members"].update_one(
            {"_id": member_id},
            {"$push": {"push_tokens": {"$each": [device], "$slice": -MAX_DEVICES}}},
            session=session,
        )

    await mongo.transaction(bind)


async def unregister_push_token(mongo: Mongo, member_id: str, token: str) -> bool:
    token = token.strip()
    result = await mongo["members"].update_one(
        {"_id": member_id}, {"$pull": {"push_tokens": {"token": token}}}
    )
    await mongo["push_devices"].delete_one({"_id": device_key(token), "member_id": member_id})
    return result.modified_count == 1


def device_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
    key = None if after is None else (after[0], _object_id(after[1]))
    documents, more = await newest_first(
        mongo["notifications"], {"member_id": member_id}, "created_at", first=first, after=key
    )
    return [Notification.from_document(d) for d in documents], more


async def get_notification(mongo: Mongo, member_id: str, raw_id: str) -> Notification | None:
    """The member's own notification, or None (someone else's reads as missing)."""
    try:
        object_id = _object_id(raw_id)
    except ValueError:
        return None
    document = await mongo["notifications"].find_one({"_id": object_id, "member_id": member_id})
    return Notification.from_document(document) if document else None


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
        raise NotANotificationId(f"not a notification id: {raw!r}") from None
