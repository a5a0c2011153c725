"""The audit log: every operator write (admin mutation or CLI) with its actor, time, request, before and after.

Append-only: nothing in the product updates or deletes an entry, and the API only reads them,
with one exception the law requires: erasing a member (app/privacy) redacts the personal data
their entries recorded (`redact_audit`), keeping who did what and when. An entry is written in
the same transaction as the change it records (pass the session), so a change is never applied
without its entry nor recorded without being applied. `before` and `after` are plain documents
(JSON-able); the caller chooses what they hold (the fields changed).
"""

from __future__ import annotations

import getpass
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo, newest_first
from app.logs import request_id_var
from app.personal_data import ERASED, PERSONAL_FIELDS, PersonalData

AUDIT = "audit"


@dataclass(frozen=True)
class AuditEntry:
    id: str
    at: datetime
    actor: str  # "admin:<subject>", "cli:<os user>"
    action: str  # "member.suspend", "points.adjust", ...
    target: str  # what it changed: "member:m_1", "reward:r_2", "program"
    request_id: str | None
    before: Document | None
    after: Document | None
    note: str | None = None

    @classmethod
    def from_document(cls, document: Document) -> AuditEntry:
        return cls(
            id=document["_id"],
            at=document["at"],
            actor=document["actor"],
            action=document["action"],
            target=document["target"],
            request_id=document.get("request_id"),
            before=document.get("before"),
            after=document.get("after"),
            note=document.get("note"),
        )


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        user = "unknown"
    return f"cli:{user}"


async def record_audit(
    mongo: Mongo,
    clock: Clock,
    *,
    actor: str,
    action: str,
    target: str,
    before: Document | None = None,
    after: Document | None = None,
    note: str | None = None,
    session: AsyncClientSession | None = None,
) -> AuditEntry:
    """Append one entry (inside the caller's transaction when `session` is given)."""
    request_id = request_id_var.get()
    entry = AuditEntry(
        id=f"au_{secrets.token_hex(10)}",
        at=clock.now(),
        actor=actor,
        action=action,
        target=target,
        request_id=None if request_id == "-" else request_id,
        before=before,
        after=after,
        note=note,
    )
    document: dict[str, Any] = {
        "_id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
        "note": entry.note,
    }
    await mongo[AUDIT].insert_one(document, session=session)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list: at most one of actor, action, target (each has its index), and an
    optional window on `at` (from included, to excluded)."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def query(self) -> Document:
        chosen = {
            k: v
            for k, v in (("actor", self.actor), ("action", self.action), ("target", self.target))
            if v is not None
        }
        if len(chosen) > 1:
            raise ValueError("filter by one of actor, action or target")
        window: Document = {}
        if self.since is not None:
            window["$gte"] = self.since
        if self.until is not None:
            window["$lt"] = self.until
        return {**chosen, **({"at": window} if window else {})}


async def list_audit(
    mongo: Mongo, audit_filter: AuditFilter, *, first: int, after: tuple[datetime, str] | None
) -> tuple[list[AuditEntry], bool]:
    """Newest first, keyset-paged on (at, _id) over one index; the page and whether more follow."""
    documents, more = await newest_first(
        mongo[AUDIT], audit_filter.query(), "at", first=first, after=after
    )
    return [AuditEntry.from_document(d) for d in documents], more


async def recorded_values(
    mongo: Mongo, target: str, *, session: AsyncClientSession | None = None
) -> dict[str, set[str]]:
    """Every value the entries about `target` recorded for a personal field (name, phone, email,
    birthday), before and after: what erasing a member must also find elsewhere."""
    found: dict[str, set[str]] = {name: set() for name in PERSONAL_FIELDS}
    entries = mongo[AUDIT].find({"target": target}, {"before": 1, "after": 1}, session=session)
    async for entry in entries:
        for side in (entry.get("before"), entry.get("after")):
            for name, value in (side or {}).items() if isinstance(side, dict) else ():
                if name in PERSONAL_FIELDS and isinstance(value, str) and value not in ("", ERASED):
                    found[name].add(value)
    return found


async def redact_audit(
    mongo: Mongo,
    targets: list[str],
    personal: PersonalData,
    fields: frozenset[str] = PERSONAL_FIELDS,
) -> int:
    """Redact the entries about `targets` (a member, their redemptions): the values of `fields`
    in `before` and `after` whole, and the personal data written anywhere else in them (a reason
    that names the member). Returns how many entries changed; a second run changes none."""
    changed = 0
    async for entry in mongo[AUDIT].find({"target": {"$in": targets}}):
        redacted = {
            key: personal.redact(entry.get(key), fields) for key in ("before", "after", "note")
        }
        update = {key: value for key, value in redacted.items() if value != entry.get(key)}
        if update:
            await mongo[AUDIT].update_one({"_id": entry["_id"]}, {"$set": update})
            changed += 1
    return changed
