"""Registered partners (shops, tills, airlines' booking systems) and the scopes each may use.

Operators register a partner (`jifen partner add`, or the admin mutation registerPartner) and
mint its tokens from this registry. A partner token is honoured only while its partner is
registered and active, with the scopes both the token and the registry grant: every partner
request reads its partner's registry document once (by id, a few hundred bytes; a purchase reads
it in the same command as the member it names, app.partners.members.partner_and_member), so
suspending a partner or narrowing its scopes takes effect at its next request in every API
process. A cache would leave a suspended partner's token working for as long as it lives in some
process.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH
from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import instant
from app.partners.errors import IdempotencyConflict, InvalidPartnerInput, PartnerInactive

PARTNER_SCOPES = frozenset(
    {"points:earn", "points:redeem", "points:read", "activities:write", "fulfilment:write"}
)
NAME_MAX = 120
_ID = re.compile(r"^pt_[0-9a-f]{20}$")


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    name: str
    scopes: frozenset[str]
    status: PartnerStatus
    created_at: datetime

    @classmethod
    def from_document(cls, doc: Document) -> Partner:
        return cls(
            id=doc["_id"],
            name=doc["name"],
            scopes=frozenset(doc["scopes"]),
            status=PartnerStatus(doc["status"]),
            created_at=doc["created_at"],
        )


def check_registration(name: str, scopes: list[str]) -> tuple[str, tuple[str, ...]]:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > NAME_MAX:
        raise InvalidPartnerInput(f"a name has 1 to {NAME_MAX} characters", ("name",))
    unknown = sorted(set(scopes) - PARTNER_SCOPES)
    if unknown or not scopes:
        raise InvalidPartnerInput(
            f"scopes are some of {', '.join(sorted(PARTNER_SCOPES))}; unknown: {unknown}",
            ("scopes",),
        )
    return cleaned, tuple(sorted(set(scopes)))


async def register_partner(
    mongo: Mongo,
    clock: Clock,
    *,
    name: str,
    scopes: list[str],
    actor: str,
    idempotency_key: str | None = None,
) -> Partner:
    """Register a partner, audited as partner.register by `actor` in the same transaction; with a
    key, a replay returns the first partner (another request under the same key is
    IdempotencyConflict)."""
    name, granted = check_registration(name, scopes)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidPartnerInput(
            f"the idempotency key has 1 to {MAX_KEY_LENGTH} characters", ("idempotency_key",)
        )
    digest = hashlib.sha256(f"{name}\n{' '.join(granted)}".encode()).hexdigest()
    now = clock.now()
    document: Document = {
        "_id": "pt_" + secrets.token_hex(10),
        "name": name,
        "scopes": list(granted),
        "status": PartnerStatus.ACTIVE.value,
        "created_at": instant(now),
        "request_hash": digest,
    }
    if idempotency_key is not None:
        document["idempotency_key"] = idempotency_key

    async def work(session: AsyncClientSession) -> None:
        await mongo["partners"].insert_one(document, session=session)
        after = {"name": name, "scopes": list(granted)}
        target = f"partner:{document['_id']}"
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="partner.register",
            target=target,
            after=after,
            session=session,
        )

    try:
        await mongo.transaction(work)
    except DuplicateKeyError:
        first = await mongo["partners"].find_one({"idempotency_key": idempotency_key})
        if first is None:
            raise
        if first["request_hash"] != digest:
            raise IdempotencyConflict(
                "this idempotency key registered another partner", ("idempotency_key",)
            ) from None
        return Partner.from_document(first)
    return Partner.from_document(document)


async def set_partner_status(
    mongo: Mongo, clock: Clock, partner_id: str, status: PartnerStatus, *, actor: str
) -> bool:
    """Suspend or reactivate a partner (audited as partner.<status>); False if there is none."""

    async def work(session: AsyncClientSession) -> bool:
        before = await mongo["partners"].find_one_and_update(
            {"_id": partner_id}, {"$set": {"status": status.value}}, session=session
        )
        if before is None:
            return False
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action=f"partner.{status.value}",
            target=f"partner:{partner_id}",
            before={"status": before["status"]},
            after={"status": status.value},
            session=session,
        )
        return True

    return await mongo.transaction(work)


def registry_id(partner_id: str) -> bool:
    """Whether `partner_id` has the shape of a registered partner's id (others are never read)."""
    return _ID.match(partner_id) is not None


async def get_partner(mongo: Mongo, partner_id: str) -> Partner | None:
    if not registry_id(partner_id):
        return None
    doc = await mongo["partners"].find_one({"_id": partner_id})
    return Partner.from_document(doc) if doc else None


def granted(partner: Partner | None, partner_id: str, token_scopes: frozenset[str]) -> Partner:
    """The partner as the registry has it (`partner`, None if unknown), if active, with the
    scopes both the registry and the token grant; else PartnerInactive."""
    if partner is None or partner.status is not PartnerStatus.ACTIVE:
        raise PartnerInactive(partner_id)
    return Partner(
        partner.id, partner.name, partner.scopes & token_scopes, partner.status, partner.created_at
    )


async def list_partners(mongo: Mongo) -> list[Partner]:
    return [Partner.from_document(doc) async for doc in mongo["partners"].find().sort("_id", 1)]
