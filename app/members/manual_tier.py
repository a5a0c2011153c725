"""Tiers set by hand: a status match (a member shows a competitor's card), a complimentary upgrade,
a correction, each with a reason and an end date.

`set_member_tier` moves the member to the tier at once and keeps it as a floor until `until`:
earning may still lift the member higher (an upgrade at the earn, as always), but the worker's
review never moves them below it before then. The account's tier review is set for `until`, so
at that instant the normal rules take over: the review ends the override and moves the member to
the tier their qualifying points give (down at most `max_levels_down` levels, or up when the
points call for a higher tier than the one set by hand), recorded as `override_ended`.

Every change is a numbered tier change (`reason = manual`, with the operator's note, the end
date and who made it) shown in the member's tier history, its `tier.changed` event and
notification, and an audit entry; all in one transaction. A retried request (the same
idempotency key) returns the first change and writes nothing; the same key with another request
is refused.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH_WIDE
from app.clock import Clock, to_millisecond
from app.db import Document, Mongo
from app.ledger import IdempotencyConflict, Tally, move_tally, read_tally
from app.members.admin import MemberErased
from app.members.models import Member, MemberStatus
from app.members.qualifying import qualifying_points
from app.members.service import InvalidProfile, MemberNotFound
from app.members.tiers import (
    MEMBER_FIELDS,
    TALLY,
    TierChange,
    TierChangeReason,
    record_change,
)
from app.program import Program

NOTE_MAX_LENGTH = 500
MAX_OVERRIDE = timedelta(days=3 * 366)  # a status match runs a season or a year; three at most
OVERRIDE = "tier_override"  # the member's field: {tier, until, note, by, at}


def _fingerprint(tier: str, until: datetime, note: str) -> str:
    body = json.dumps([tier, until.isoformat(), note], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def check_request(
    program: Program, now: datetime, tier: str, until: datetime, note: str, key: str
) -> tuple[datetime, str]:
    """The end date at millisecond precision and the note with its spaces folded; InvalidProfile
    naming the field at fault."""
    if tier not in {t.code for t in program.tiers}:
        raise InvalidProfile("tier", f"no tier {tier[:64]!r} in the program")
    folded = " ".join(note.split())
    if not 0 < len(folded) <= NOTE_MAX_LENGTH:
        raise InvalidProfile("reason", f"a reason of 1 to {NOTE_MAX_LENGTH} characters")
    if until.tzinfo is None:
        raise InvalidProfile("until", "until needs a UTC offset")
    if not now < until <= now + MAX_OVERRIDE:
        raise InvalidProfile("until", "until lies after now and within three years")
    if not 0 < len(key) <= MAX_KEY_LENGTH_WIDE:
        raise InvalidProfile("idempotency_key", f"1 to {MAX_KEY_LENGTH_WIDE} characters")
    return to_millisecond(until), folded


async def set_member_tier(
    mongo: Mongo,
    clock: Clock,
    program: Program,
    member_id: str,
    *,
    tier: str,
    until: datetime,
    note: str,
    actor: str,
    idempotency_key: str,
) -> tuple[Member, TierChange]:
    """Put the member in `tier` until `until`, with the operator's `note` (see the module)."""
    now = clock.now()
    until, note = check_request(program, now, tier, until, note, idempotency_key)
    fingerprint = _fingerprint(tier, until, note)
    change_id = f"manual:{member_id}:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"

    async def work(session: AsyncClientSession) -> tuple[Member, TierChange]:
        document = await mongo["members"].find_one({"_id": member_id}, session=session)
        if document is None:
            raise MemberNotFound(member_id)
        if document.get("status") == MemberStatus.ERASED.value:
            raise MemberErased(member_id)
        progress = await read_tally(mongo, member_id, TALLY, session) or {}
        points = qualifying_points(program, progress.get("buckets") or {}, now)
        override = {"tier": tier, "until": until, "note": note, "by": actor, "at": now}
        changed: Document = {"tier": tier, OVERRIDE: override}
        if document["tier"] != tier:
            changed["tier_since"] = now
        await mongo["members"].update_one({"_id": member_id}, {"$set": changed}, session=session)
        # The review at `until` ends the override (tier_review.py); sooner reviews stay.
        await move_tally(mongo, session, member_id, Tally(TALLY, {}, {"review_at": until}))
        before = {field: document.get(field) for field in MEMBER_FIELDS}
        change = await record_change(
            mongo,
            session,
            now,
            program,
            member={"_id": member_id, **before},
            to_tier=tier,
            reason=TierChangeReason.MANUAL,
            qualifying=points,
            note=note,
            until=until,
            actor=actor,
            change_id=change_id,
            fingerprint=fingerprint,
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="member.tier_set",
            target=f"member:{member_id}",
            before={"tier": document["tier"]},
            after={"tier": tier, "until": until.isoformat()},
            note=note,
            session=session,
        )
        return Member.model_validate({**document, **changed}), change

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:
        first = await mongo["tier_changes"].find_one({"_id": change_id})
        if first is None:
            raise
        if first.get("fingerprint") != fingerprint:
            raise IdempotencyConflict(idempotency_key) from None
        member = await mongo["members"].find_one({"_id": member_id})
        assert member is not None
        return Member.model_validate(member), TierChange.from_document(first)


def override_of(document: Document) -> Document | None:
    """The member's tier set by hand, if any (the members document as read)."""
    override = document.get(OVERRIDE)
    return override if isinstance(override, dict) else None
