"""A member's preferences for messages outside the app: opt-outs per channel and kind, marketing
consent, language; the contacts a provider said will never work; unsubscribe links.

One document per member in `message_preferences` (absent: no opt-out, no marketing consent, the
program's language). The rule for transactional kinds: a member may turn any of them off on any
channel, but not on every channel at once (`TransactionalNeedsAChannel`): they tell of the
member's own points and account. Marketing needs consent, and any channel can be turned off.

An unsubscribe link carries a signed token (HMAC-SHA256 of member, channel and kind under the
unsubscribe key), so it works without signing in and cannot be made for another member.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.config import Settings
from app.db import Document, Mongo
from app.messaging.errors import (
    BadUnsubscribeToken,
    TransactionalNeedsAChannel,
    UnknownChannel,
    UnknownEventKind,
)
from app.messaging.kinds import Channel, EventKind, is_marketing
from app.messaging.templates import check_language


@dataclass(frozen=True)
class OptOut:
    channel: Channel
    kind: EventKind


@dataclass(frozen=True)
class Preferences:
    member_id: str
    opt_outs: frozenset[OptOut]
    marketing_consent: bool
    language: str | None
    unusable: dict[str, str]  # channel -> the phone or address a provider refused for good

    def allows(self, channel: Channel, kind: EventKind) -> bool:
        return OptOut(channel, kind) not in self.opt_outs


def parse_opt_out(channel: str, kind: str) -> OptOut:
    try:
        parsed_channel = Channel(channel)
    except ValueError:
        raise UnknownChannel(channel) from None
    try:
        parsed_kind = EventKind(kind)
    except ValueError:
        raise UnknownEventKind(kind) from None
    return OptOut(parsed_channel, parsed_kind)


def _from_document(member_id: str, document: Document | None) -> Preferences:
    document = document or {}
    return Preferences(
        member_id=member_id,
        opt_outs=frozenset(
            OptOut(Channel(o["channel"]), EventKind(o["kind"]))
            for o in document.get("opt_outs") or []
        ),
        marketing_consent=bool(document.get("marketing_consent")),
        language=document.get("language"),
        unusable=dict(document.get("unusable") or {}),
    )


async def get_preferences(mongo: Mongo, member_id: str) -> Preferences:
    document = await mongo["message_preferences"].find_one({"_id": member_id})
    return _from_document(member_id, document)


async def preferences_of(mongo: Mongo, member_ids: Iterable[str]) -> dict[str, Preferences]:
    ids = list(set(member_ids))
    found = {d["_id"]: d async for d in mongo["message_preferences"].find({"_id": {"$in": ids}})}
    return {member_id: _from_document(member_id, found.get(member_id)) for member_id in ids}


async def update_preferences(
    mongo: Mongo,
    clock: Clock,
    member_id: str,
    *,
    opt_outs: Iterable[OptOut] | None = None,
    marketing_consent: bool | None = None,
    language: str | None = None,
) -> Preferences:
    """Replace what is given (the whole set of opt-outs when given); the rest stays."""
    changes: Document = {"updated_at": clock.now()}
    if opt_outs is not None:
        chosen = frozenset(opt_outs)
        for kind in EventKind:
            if is_marketing(kind):
                continue
            if all(OptOut(channel, kind) in chosen for channel in Channel):
                raise TransactionalNeedsAChannel(kind.value)
        changes["opt_outs"] = [
            {"channel": o.channel.value, "kind": o.kind.value}
            for o in sorted(chosen, key=lambda o: (o.channel.value, o.kind.value))
        ]
    if marketing_consent is not None:
        changes["marketing_consent"] = marketing_consent
        changes["marketing_consent_at"] = clock.now()
    if language is not None:
        changes["language"] = check_language(language)
    await mongo["message_preferences"].update_one(
        {"_id": member_id}, {"$set": changes}, upsert=True
    )
    return await get_preferences(mongo, member_id)


async def opt_out(
    mongo: Mongo,
    clock: Clock,
    member_id: str,
    item: OptOut,
    *,
    source: Document | None = None,
    session: AsyncClientSession | None = None,
) -> None:
    """Add one opt-out (an unsubscribe link, an SMS STOP): idempotent. `source` says why (an SMS
    reply: the provider, the reply, its time), kept under `opt_out_sources` for an operator."""
    changes: Document = {"updated_at": clock.now()}
    if source is not None:
        changes[f"opt_out_sources.{item.channel.value}:{item.kind.value}"] = source
    await mongo["message_preferences"].update_one(
        {"_id": member_id},
        {
            "$addToSet": {"opt_outs": {"channel": item.channel.value, "kind": item.kind.value}},
            "$set": changes,
        },
        upsert=True,
        session=session,
    )


async def mark_unusable(mongo: Mongo, member_id: str, channel: Channel, address: str) -> None:
    """A provider said this phone or address will never work: stop using it (until it changes)."""
    await mongo["message_preferences"].update_one(
        {"_id": member_id}, {"$set": {f"unusable.{channel.value}": address}}, upsert=True
    )


UNSUBSCRIBE_KEY = "unsubscribe_key"


async def unsubscribe_key(mongo: Mongo, settings: Settings) -> bytes:
    """JIFEN_UNSUBSCRIBE_SECRET, or a key generated once into the database (`meta`), which every
    API process and worker shares: the worker signs the links, the API checks them, and in the
    production shape they do not share a data folder. It only signs unsubscribe links (forging
    one would unsubscribe someone from marketing), and a database backup carries it along."""
    if settings.unsubscribe_secret:
        return settings.unsubscribe_secret.get_secret_value().encode()
    cached = mongo.cache.get(UNSUBSCRIBE_KEY)
    if isinstance(cached, bytes):
        return cached
    try:
        document = await mongo["meta"].find_one_and_update(
            {"_id": UNSUBSCRIBE_KEY},
            {"$setOnInsert": {"key": secrets.token_urlsafe(48)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    except DuplicateKeyError:  # another process made it at the same moment
        document = await mongo["meta"].find_one({"_id": UNSUBSCRIBE_KEY})
    assert document is not None
    key = str(document["key"]).encode()
    mongo.cache[UNSUBSCRIBE_KEY] = key
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(key: bytes, member_id: str, channel: Channel, kind: EventKind) -> str:
    claim = f"{member_id}\n{channel.value}\n{kind.value}".encode()
    mac = hmac.new(key, claim, hashlib.sha256).digest()[:16]
    return f"{_b64(claim)}.{_b64(mac)}"


def read_unsubscribe_token(key: bytes, token: str) -> tuple[str, OptOut]:
    try:
        claim_part, mac_part = token.split(".", 1)
        claim, mac = _unb64(claim_part), _unb64(mac_part)
        expected = hmac.new(key, claim, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, mac):
            raise BadUnsubscribeToken("the link's signature does not hold")
        member_id, channel, kind = claim.decode().split("\n")
        return member_id, parse_opt_out(channel, kind)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, BadUnsubscribeToken):
            raise
        raise BadUnsubscribeToken("not an unsubscribe token") from None


async def unsubscribe(mongo: Mongo, clock: Clock, key: bytes, token: str) -> tuple[str, OptOut]:
    """Follow an unsubscribe link: record the opt-out it names; returns whose and what."""
    member_id, item = read_unsubscribe_token(key, token)
    await opt_out(mongo, clock, member_id, item)
    return member_id, item


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/unsubscribe/{token}"
