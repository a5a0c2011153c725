"""Operators manage members: search, create, update, suspend, reactivate (app/members/erase.py
erases and exports). Every write records its audit entry in the same transaction; each is
idempotent (create by its key, the others by the state they leave: a second suspension of a
suspended member changes and records nothing)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH_WIDE
from app.clock import Clock
from app.db import Document, Mongo
from app.event_log import append
from app.ledger import IdempotencyConflict, set_frozen
from app.members.access import end_access, revoke_refresh_tokens
from app.members.models import Member, MemberStatus
from app.members.phones import InvalidPhone, normalise_phone
from app.members.service import (
    InvalidProfile,
    MemberNotFound,
    check_birthday,
    check_email,
    check_name,
    create_member,
)
from app.program import current_program

SEARCH_MAX_LENGTH = 64
REASON_MAX_LENGTH = 500
_MEMBER_NO = re.compile(r"JF\d{9}", re.IGNORECASE)
_PHONE_LIKE = re.compile(r"[+\d][\d\s()-]{5,}")
PRIVATE = {"password_hash": 0}


class PhoneInUse(Exception):
    """Another member has this phone number."""


class MemberErased(Exception):
    """An erased member cannot be changed or reactivated."""


@dataclass(frozen=True)
class NewMember:
    name: str
    phone: str | None = None
    email: str | None = None
    birthday: date | None = None
    tier: str | None = None


async def search_members(
    mongo: Mongo, text: str, *, first: int, after: tuple[str, str] | None = None
) -> tuple[list[Member], bool]:
    """A member number or a phone number finds that member; anything else is a name prefix,
    paged in name order on (name, id)."""
    text = " ".join(text.split())
    if not 0 < len(text) <= SEARCH_MAX_LENGTH:
        raise InvalidProfile("search", f"search for 1 to {SEARCH_MAX_LENGTH} characters")
    if _MEMBER_NO.fullmatch(text):
        return await _exact(mongo, {"member_no": text.upper()})
    if _PHONE_LIKE.fullmatch(text):
        try:
            return await _exact(mongo, {"phone": normalise_phone(text)})
        except InvalidPhone:
            pass  # not a phone after all: a name that starts with digits
    query: Document = {"name": {"$gte": text, "$lt": text + "\U0010ffff"}}
    if after is not None:
        name, member_id = after
        query["$or"] = [{"name": {"$gt": name}}, {"name": name, "_id": {"$gt": member_id}}]
    cursor = mongo["members"].find(query, PRIVATE).sort([("name", 1), ("_id", 1)])
    found = [Member.model_validate(d) async for d in cursor.limit(first + 1)]
    return found[:first], len(found) > first


async def _exact(mongo: Mongo, query: Document) -> tuple[list[Member], bool]:
    document = await mongo["members"].find_one(query, PRIVATE)
    return ([Member.model_validate(document)] if document else []), False


async def admin_create_member(
    mongo: Mongo, clock: Clock, new: NewMember, *, idempotency_key: str, actor: str
) -> Member:
    """Create a member for an operator; the key's replay returns the first member, another
    request under it is IdempotencyConflict; PhoneInUse if another member has the phone."""
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH_WIDE:
        raise InvalidProfile("idempotency_key", f"1 to {MAX_KEY_LENGTH_WIDE} characters")
    name = check_name(new.name)
    phone = _phone(new.phone)
    email = check_email(new.email) if new.email is not None else None
    birthday = check_birthday(new.birthday, clock.now().date()) if new.birthday else None
    program = await current_program(mongo)
    tier = new.tier or program.tiers[0].code
    if tier not in {t.code for t in program.tiers}:
        raise InvalidProfile("tier", f"no tier {tier!r} in the program")
    fingerprint = _fingerprint(name, phone, email, birthday, tier)

    async def work(session: AsyncClientSession) -> Member:
        member = await create_member(
            mongo,
            clock,
            name=name,
            tier=tier,
            phone=phone,
            email=email,
            birthday=birthday,
            session=session,
        )
        await mongo["members"].update_one(
            {"_id": member.id},
            {"$set": {"admin_key": idempotency_key, "admin_fingerprint": fingerprint}},
            session=session,
        )
        after = {"member_no": member.member_no, "name": name, "tier": tier}
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="member.create",
            target=f"member:{member.id}",
            after=after,
            session=session,
        )
        return member

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:
        first = await mongo["members"].find_one({"admin_key": idempotency_key}, PRIVATE)
        if first is None:
            raise PhoneInUse(phone) from None
        if first.get("status") == MemberStatus.ERASED.value:
            return Member.model_validate(first)  # its fingerprint went with the personal data
        if first.get("admin_fingerprint") != fingerprint:
            raise IdempotencyConflict(idempotency_key) from None
        return Member.model_validate(first)


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return normalise_phone(raw)
    except InvalidPhone as exc:
        raise InvalidProfile("phone", str(exc)) from None


def _fingerprint(*values: object) -> str:
    return hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()


async def admin_update_member(
    mongo: Mongo, clock: Clock, member_id: str, changes: dict[str, object], *, actor: str
) -> Member:
    """Set the given profile fields (name, phone, email, birthday; None clears email, birthday);
    audited with the fields' old and new values. Nothing changed: nothing recorded."""
    checked = _checked(changes, clock)

    async def work(session: AsyncClientSession) -> Member:
        document = await _live(mongo, member_id, session)
        before = {
            k: _stored(document.get(k)) for k in checked if _stored(document.get(k)) != checked[k]
        }
        if before:
            after = {k: checked[k] for k in before}
            await mongo["members"].update_one({"_id": member_id}, {"$set": after}, session=session)
            await record_audit(
                mongo,
                clock,
                actor=actor,
                action="member.update",
                target=f"member:{member_id}",
                before=before,
                after=after,
                session=session,
            )
            document = {**document, **after}
            await append(  # the fields' names only: their values are personal data
                mongo,
                session,
                "member.updated",
                member_id,
                {"fields": sorted(after)},
                key=f"member.updated:{ObjectId()}",
                occurred_at=clock.now(),
            )
        return Member.model_validate(document)

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:
        raise PhoneInUse(str(checked.get("phone"))) from None


def _checked(changes: dict[str, object], clock: Clock) -> dict[str, object]:
    checked: dict[str, object] = {}
    for name, value in changes.items():
        if name == "name" and isinstance(value, str):
            checked["name"] = check_name(value)
        elif name == "phone" and isinstance(value, str):
            checked["phone"] = _phone(value)
        elif name == "email":
            checked["email"] = check_email(value) if isinstance(value, str) else None
        elif name == "birthday":
            born = check_birthday(value, clock.now().date()) if isinstance(value, date) else None
            checked["birthday"] = born.isoformat() if born else None
        else:
            raise InvalidProfile(name, "this field cannot be changed here")
    return checked


def _stored(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


async def _live(mongo: Mongo, member_id: str, session: AsyncClientSession) -> Document:
    document = await mongo["members"].find_one({"_id": member_id}, PRIVATE, session=session)
    if document is None:
        raise MemberNotFound(member_id)
    if document.get("status") == MemberStatus.ERASED.value:
        raise MemberErased(member_id)
    return document


async def set_member_status(
    mongo: Mongo, clock: Clock, member_id: str, active: bool, *, reason: str, actor: str
) -> Member:
    """Suspend (active=False) or reactivate a member, with a reason (audited). A suspension
    freezes the account, closes the member's live connections and ends their refresh tokens."""
    reason = " ".join(reason.split())
    if not 0 < len(reason) <= REASON_MAX_LENGTH:
        raise InvalidProfile("reason", f"a reason of 1 to {REASON_MAX_LENGTH} characters")
    wanted = MemberStatus.ACTIVE if active else MemberStatus.SUSPENDED
    now = clock.now()

    async def work(session: AsyncClientSession) -> tuple[Document, bool]:
        document = await _live(mongo, member_id, session)
        was = document.get("status", MemberStatus.ACTIVE.value)
        if was == wanted.value:
            return document, False
        await mongo["members"].update_one(
            {"_id": member_id}, {"$set": {"status": wanted.value}}, session=session
        )
        if active:
            await set_frozen(mongo, member_id, False, session=session)
        else:
            await end_access(mongo, session, now, document, reason)
        action = "member.reactivate" if active else "member.suspend"
        await append(
            mongo,
            session,
            "member.reactivated" if active else "member.suspended",
            member_id,
            {"status": wanted.value},
            key=f"{action}:{ObjectId()}",
            occurred_at=now,
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action=action,
            target=f"member:{member_id}",
            before={"status": was},
            after={"status": wanted.value},
            note=reason,
            session=session,
        )
        return {**document, "status": wanted.value}, True

    document, changed = await mongo.transaction(work)
    if changed and not active:
        await revoke_refresh_tokens(mongo, member_id, now)
    return Member.model_validate(document)
