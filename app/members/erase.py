"""Privacy: erasing a member's personal data while keeping the ledger, and exporting one member's
data.

Erasure is app/privacy's; this module does its part on the member document. In one transaction
`begin_erasure` pseudonymises it (name, phone, email, birthday, devices, consents, the password
and the fingerprint of createMember's request go; the id, member number, tier, join date and the
old system's legacy id stay), ends their access like a suspension, marks them erased (no sign-in,
no spend, no earn, no reactivation), audits the erasure naming the fields, never their values, and
writes what is still to be found elsewhere to `erasures`: the values just removed and the older
ones the audit log recorded. `end_erasure` deletes that record once every copy is redacted.

Their ledger entries, lots and account keep their points, so every balance and report still adds
up; entries name the member only by id. What stays for idempotency, by design: createMember's
`admin_key` (the operator's own key, so a retry finds the erased member, not a new one); an
imported member's legacy id and the fingerprint of their balance rows (a re-import of the file
refuses the row, never imports the person again). The fingerprint of their imported row, a hash
of their name, phone and e-mail that anyone holding the row could confirm, goes.

An export is the member's own data as one JSON-able document: profile, consents and devices, the
ledger (every entry, oldest first), redemptions and notifications. It is audited, since it
discloses personal data.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from bson import Decimal128, ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from app.audit import record_audit, recorded_values
from app.clock import Clock
from app.db import Document, Mongo
from app.event_log import append
from app.ledger import list_entries
from app.members.access import end_access
from app.members.admin import REASON_MAX_LENGTH
from app.members.models import Member, MemberStatus
from app.members.service import InvalidProfile, MemberNotFound

ERASED_NAME = "已注销 Erased member"
PERSONAL = ("name", "phone", "email", "birthday", "push_tokens", "consents", "password_hash")
ERASURES = "erasures"
MAX_EXPORT_ENTRIES = 100_000
PAGE = 100


async def begin_erasure(
    mongo: Mongo, clock: Clock, member_id: str, *, reason: str, actor: str
) -> tuple[Member, Document | None]:
    """Pseudonymise the member and end their access; the member and the erasure's record of what
    is left to find (None when nothing is). A second erasure changes nothing here and returns
    the record of an erasure cut off before its end, to be finished, or for a member erased
    before erasures were recorded, the values the audit log still holds."""
    reason = " ".join(reason.split())
    if not 0 < len(reason) <= REASON_MAX_LENGTH:
        raise InvalidProfile("reason", f"a reason of 1 to {REASON_MAX_LENGTH} characters")
    now = clock.now()

    async def work(session: AsyncClientSession) -> tuple[Document, Document | None]:
        document = await mongo["members"].find_one({"_id": member_id}, session=session)
        if document is None:
            raise MemberNotFound(member_id)
        if document.get("status") == MemberStatus.ERASED.value:
            left = await mongo[ERASURES].find_one({"_id": member_id}, session=session)
            if left is None:  # finished; or erased before erasures were recorded: the values
                left = await _left_to_find(mongo, document, now, session)  # the audit still has
            return document, left if _anything(left) else None
        erased = [field for field in PERSONAL if document.get(field) not in (None, [], {})]
        await end_access(mongo, session, now, document, reason, erased=True)  # devices go after
        left = await _left_to_find(mongo, document, now, session)
        await mongo[ERASURES].replace_one({"_id": member_id}, left, upsert=True, session=session)
        unset = {field: "" for field in PERSONAL if field != "name"}
        unset |= {"admin_fingerprint": "", "import.member": ""}
        update = {
            "$set": {"name": ERASED_NAME, "status": MemberStatus.ERASED.value, "erased_at": now},
            "$unset": unset,
        }
        await mongo["members"].update_one({"_id": member_id}, update, session=session)
        data = {"status": MemberStatus.ERASED.value}
        await append(
            mongo,
            session,
            "member.erased",
            member_id,
            data,
            key=f"member.erased:{member_id}",
            occurred_at=now,
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="member.erase",
            target=f"member:{member_id}",
            before={"fields": erased},
            after={"status": MemberStatus.ERASED.value},
            note=reason,
            session=session,
        )
        document = await mongo["members"].find_one({"_id": member_id}, session=session)
        assert document is not None
        return document, left

    document, left = await mongo.transaction(work)
    return Member.model_validate(document), left


async def _left_to_find(
    mongo: Mongo, document: Document, now: datetime, session: AsyncClientSession
) -> Document:
    """The personal values to look for elsewhere: the member's, and those the audit recorded."""
    recorded = await recorded_values(mongo, f"member:{document['_id']}", session=session)
    return {
        "_id": document["_id"],
        "begun_at": now,
        "legacy_id": document.get("legacy_id"),
        **{
            f"{field}s": sorted(
                recorded[field]
                | (
                    {str(document[field])}
                    if document.get(field) not in (None, ERASED_NAME)
                    else set()
                )
            )
            for field in ("name", "phone", "email", "birthday")
        },
        "tokens": [device["token"] for device in document.get("push_tokens") or []],
    }


def _anything(left: Document) -> bool:
    return any(left[key] for key in ("names", "phones", "emails", "birthdays", "tokens"))


async def end_erasure(mongo: Mongo, member_id: str) -> None:
    """Every copy found is redacted: nothing is left to find."""
    await mongo[ERASURES].delete_one({"_id": member_id})


async def unfinished_erasures(mongo: Mongo, begun_before: datetime, limit: int) -> list[Document]:
    """Erasures begun before `begun_before` and not finished (their request was cut off)."""
    cursor = mongo[ERASURES].find({"begun_at": {"$lt": begun_before}}).sort("begun_at", 1)
    return await cursor.limit(limit).to_list(None)


async def export_member(mongo: Mongo, clock: Clock, member_id: str, *, actor: str) -> Document:
    """Everything stored about one member, as plain JSON values."""
    member = await mongo["members"].find_one({"_id": member_id}, {"password_hash": 0})
    if member is None:
        raise MemberNotFound(member_id)
    entries = await _all_entries(mongo, member_id)
    redemptions = await mongo["redemptions"].find({"member_id": member_id}).to_list(None)
    notifications = await mongo["notifications"].find({"member_id": member_id}).to_list(None)
    export = {
        "exported_at": clock.now(),
        "profile": {
            k: v
            for k, v in member.items()
            if k not in ("consents", "push_tokens", "admin_key", "admin_fingerprint")
        },
        "consents": member.get("consents") or {},
        "devices": member.get("push_tokens") or [],
        "ledger": [asdict(entry) for entry in entries],
        "redemptions": redemptions,
        "notifications": notifications,
    }
    await record_audit(
        mongo,
        clock,
        actor=actor,
        action="member.export",
        target=f"member:{member_id}",
        after={"entries": len(entries), "redemptions": len(redemptions)},
    )
    plain: Document = _plain(export)
    return plain


async def _all_entries(mongo: Mongo, member_id: str) -> list[Any]:
    """The member's ledger oldest first, read newest first in pages through the ledger's API."""
    entries: list[Any] = []
    before: int | None = None
    while len(entries) < MAX_EXPORT_ENTRIES:
        page = await list_entries(mongo, member_id, first=PAGE, before=before)
        entries += [entry for _, entry in page.entries]
        if not page.has_more or not page.entries:
            break
        before = page.entries[-1][0]
    return entries[::-1]


def _plain(value: Any) -> Any:
    """Dates as ISO text, ids and decimals as text, enums as their value, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, ObjectId | Decimal | Decimal128):
        return str(value)
    return value
