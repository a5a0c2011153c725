"""Activities posted by partners (sign-up, review, share, referral): points with caps per local
day and in total, idempotent on the partner's reference.

One transaction through the ledger's unit of work: count the activity on the member's counter,
earn the points (the tier's expiry terms), count them as qualifying points. The counter
(`activity_counts`, one document per member and activity: `day`, `today`, `total`) is updated
by one command that adds one and returns the counts after; over a cap the transaction is
aborted, so the count is never kept. Concurrent posts for one member all write that counter and
its account, so snapshot isolation turns every race into a write conflict that the runner
retries from the start: a cap can never be passed. The ledger key is (partner, reference): a
replay returns the first result, the same reference for another member or activity is a
ReferenceConflict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo, upsert_and_get
from app.engagement.errors import (
    ActivitiesNotConfigured,
    ActivityLimitReached,
    ActivityUnknown,
    ReferenceConflict,
)
from app.ledger import Entry, IdempotencyConflict, LedgerUnit, first_entry, run_in_ledger
from app.members import (
    MemberStatus,
    MemberSuspended,
    TierChange,
    find_member,
    qualify,
    qualifying_tally,
)
from app.program import Activity, ProgramNotConfigured, current_program, issue_terms


@dataclass(frozen=True, slots=True)
class ActivityResult:
    member_id: str
    activity: str
    entry: Entry
    replayed: bool = False
    tier_change: TierChange | None = None


async def count_activity(
    mongo: Mongo, session: AsyncClientSession, member_id: str, activity: Activity, today: date
) -> None:
    """Add one to the member's counts of `activity`; ActivityLimitReached over a cap."""
    day = today.isoformat()
    counts = await upsert_and_get(
        mongo["activity_counts"],
        {"_id": f"{member_id}:{activity.code}"},
        [
            {
                "$set": {
                    "member_id": member_id,
                    "activity": activity.code,
                    "today": {
                        "$cond": [
                            {"$eq": ["$day", day]},
                            {"$add": [{"$ifNull": ["$today", 0]}, 1]},
                            1,
                        ]
                    },
                    "day": day,
                    "total": {"$add": [{"$ifNull": ["$total", 0]}, 1]},
                }
            }
        ],
        session=session,
    )
    if activity.per_day is not None and int(counts["today"]) > activity.per_day:
        raise ActivityLimitReached(activity.per_day, "a day")
    if activity.total is not None and int(counts["total"]) > activity.total:
        raise ActivityLimitReached(activity.total, "in total")


async def record_activity(
    mongo: Mongo,
    clock: Clock,
    *,
    partner_id: str,
    member: Document,
    activity_code: str,
    reference: str,
) -> ActivityResult:
    """Earn the activity's points for the member (`member`: the query naming them, see
    app.members.lookup). Raises ActivitiesNotConfigured, ActivityUnknown, MemberNotFound,
    MemberSuspended, ActivityLimitReached, ReferenceConflict."""
    try:
        program = await current_program(mongo)
    except ProgramNotConfigured:
        raise ActivitiesNotConfigured("no program is configured") from None
    found = await find_member(mongo, member)
    key = f"activity:{partner_id}:{reference}"
    fingerprint = hashlib.sha256(f"activity:{found.id}:{activity_code}".encode()).hexdigest()
    activity = program.activity(activity_code)
    try:
        if activity is None:
            raise ActivityUnknown(activity_code)
        if found.status is not MemberStatus.ACTIVE:
            raise MemberSuspended(f"the member is {found.status.value}: no points are earned")
    except (ActivityUnknown, MemberSuspended):
        # A retry after the member was suspended or the activity withdrawn: the first answer.
        first = await first_entry(mongo, key)
        if first is None or first.fingerprint != fingerprint:
            raise
        return ActivityResult(found.id, activity_code, first.entry, replayed=True)
    terms = issue_terms(program, found.tier)

    async def work(unit: LedgerUnit) -> ActivityResult:
        await count_activity(mongo, unit.session, found.id, activity, program.local_date(unit.now))
        counted = qualifying_tally(program, unit.now, points=activity.points, at=unit.now)
        entry = await unit.earn(
            found.id,
            activity.points,
            policy=terms.policy,
            policy_version=terms.policy_version,
            tz=terms.tz,
            reference=reference,
            description=activity.name,
            actor=partner_id,
            channel="partner",
            extra={"activity": activity.code},
            tally=counted,
        )
        change = None
        if counted is not None:
            change = await qualify(
                mongo,
                unit.session,
                unit.now,
                program,
                member_id=found.id,
                progress=unit.tallied(found.id, counted.name),
                entry_id=entry.id,
            )
        return ActivityResult(found.id, activity.code, entry, tier_change=change)

    async def replay(entry: Entry) -> ActivityResult:
        return ActivityResult(found.id, activity.code, entry, replayed=True)

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=key,
            fingerprint=fingerprint,
            replay=replay,
        )
    except IdempotencyConflict:
        raise ReferenceConflict(
            "this reference was already used for another member or activity"
        ) from None
