"""Privacy: erasing a member's personal data while keeping the ledger, and exporting one member's
data.

Erasure pseudonymises the member document (name, phone, email, birthday, devices, consents and
the password go; the id, member number, tier and join date stay), ends their access like a
suspension and marks them erased: no sign-in, no spend, no earn, no reactivation. Their ledger
entries, lots and account are untouched, so every balance and report still adds up; entries name
the member only by id. The audit entry lists which fields were erased, never their values.

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

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import list_entries
from app.members.access import end_access, revoke_refresh_tokens
from app.members.admin import REASON_MAX_LENGTH
from app.members.models import Member, MemberStatus
from app.members.service import InvalidProfile, MemberNotFound

ERASED_NAME = "已注销 Erased member"
PERSONAL = ("name", "phone", "email", "birthday", "push_tokens", "consents", "password_hash")
MAX_EXPORT_ENTRIES = 100_000
PAGE = 100


async def erase_member(
    mongo: Mongo, clock: Clock, member_id: str, *, reason: str, actor: str
) -> Member:
    """Pseudonymise the member and end their access; a second erasure changes nothing."""
    reason = " ".join(reason.split())
    if not 0 < len(reason) <= REASON_MAX_LENGTH:
        raise InvalidProfile("reason", f"a reason of 1 to {REASON_MAX_LENGTH} characters")
    now = clock.now()

    async def work(session: AsyncClientSession) -> tuple[Document, bool]:
        document = await mongo["members"].find_one({"_id": member_id}, session=session)
        if document is None:
            raise MemberNotFound(member_id)
        if document.get("status") == MemberStatus.ERASED.value:
            return document, False
        erased = [field for field in PERSONAL if document.get(field) not in (None, [], {})]
        await end_access(mongo, session, now, document, reason, erased=True)  # devices go after
        unset = {field: "" for field in PERSONAL if field != "name"}
        update = {"$set": {"name": ERASED_NAME, "status": MemberStatus.ERASED.value,
                           "erased_at": now}, "$unset": unset}  # fmt: skip
        await mongo["members"].update_one({"_id": member_id}, update, session=session)
        await record_audit(mongo, clock, actor=actor, action="member.erase",
                           target=f"member:{member_id}", before={"fields": erased},
                           after={"status": MemberStatus.ERASED.value}, note=reason,
                           session=session)  # fmt: skip
        changed = {**document, "name": ERASED_NAME, "status": MemberStatus.ERASED.value}
        return {k: v for k, v in changed.items() if k not in unset}, True

    document, changed = await mongo.transaction(work)
    if changed:
        await revoke_refresh_tokens(mongo, member_id, now)
    return Member.model_validate(document)


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
        "profile": {k: v for k, v in member.items() if k not in ("consents", "push_tokens",
                                                                  "admin_key", "admin_fingerprint")},
        "consents": member.get("consents") or {},
        "devices": member.get("push_tokens") or [],
        "ledger": [asdict(entry) for entry in entries],
        "redemptions": redemptions,
        "notifications": notifications,
    }  # fmt: skip
    await record_audit(mongo, clock, actor=actor, action="member.export",
                       target=f"member:{member_id}",
                       after={"entries": len(entries), "redemptions": len(redemptions)})  # fmt: skip
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
