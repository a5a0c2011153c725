"""Segments: a saved condition over members (the program's condition language, app/program/
conditions.py, over member and account facts), counted live, listed with keyset paging, written
as CSV, and used as the target of bulk 清零 and extensions (app/corrections).

A segment reads, of each member: `tier`, `joined_on`, `birthday_month` (the member), and
`points`, `lifetime_points`, `redeemed_points`, `days_since_activity`, `status` (the account,
exact at the read: points past their expiry that no job has taken yet are not counted). Erased
members are never in a segment.

Members are read in `_id` order, BATCH at a time (two commands a batch: the members, their
accounts), and the compiled condition decides each in this process: a count costs a pass over the
members, a page stops once it has `first` members or has looked at SCAN_LIMIT (the cursor then
resumes where it stopped, so every page costs at most that, however rare the members are).

Saving is versioned by a counter on the segment and audited; ids are slugs an operator chooses
(`vip`, `dormant-180`); a segment named by a bulk job is resolved when the job is made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import (
    NO_ACCOUNT,
    AccountCounters,
    account_counters,
    get_balance,
    overdue_by_member,
)
from app.members import Member, MemberStatus
from app.program import (
    Condition,
    Predicate,
    Program,
    check_bounds,
    compile_condition,
    scopes,
)
from app.program import condition_document as dump

COLLECTION = "segments"
BATCH = 1_000
SCAN_LIMIT = 20_000  # members a page looks at, at most
MAX_SEGMENTS = 200
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MEMBER_FIELDS = {"tier": 1, "joined_at": 1, "birthday": 1, "status": 1, "member_no": 1, "name": 1}


class SegmentInvalid(ValueError):
    """The segment breaks a rule; `field` names it and `path` the place in its condition."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SegmentNotFound(Exception):
    def __init__(self, segment_id: str) -> None:
        super().__init__(f"no segment {segment_id[:64]!r}")
        self.segment_id = segment_id


class TooManySegments(Exception):
    """A program keeps at most MAX_SEGMENTS segments."""


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    when: Condition
    version: int = 1
    updated_at: datetime | None = None
    updated_by: str | None = None

    @field_validator("when", mode="after")
    @classmethod
    def _members_only(cls, node: Any) -> Any:
        check_bounds(node)
        if scopes(node) & {"purchase", "line"}:
            raise ValueError("a segment reads members and their accounts, not a purchase")
        return node


def parse_segment(raw: Document) -> Segment:
    """A segment from what an operator sent; SegmentInvalid names the first error's path."""
    try:
        return Segment.model_validate(
            {k: v for k, v in raw.items() if k not in ("version", "updated_at", "updated_by")}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        place = ".".join(
            str(step) for step in error["loc"] if step not in ("all_of", "any_of", "not_of", "leaf")
        )
        raise SegmentInvalid(
            place.split(".")[0] or "segment",
            f"{place}: {error['msg'].removeprefix('Value error, ')}",
        ) from None


def _document(segment: Segment) -> Document:
    return {
        "_id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "when": dump(segment.when),
        "version": segment.version,
        "updated_at": segment.updated_at,
        "updated_by": segment.updated_by,
    }


def _segment(document: Document) -> Segment:
    return Segment.model_validate(
        {**{k: v for k, v in document.items() if k != "_id"}, "id": document["_id"]}
    )


async def save_segment(mongo: Mongo, clock: Clock, segment: Segment, *, actor: str) -> Segment:
    """Create or replace the segment (its version counts the saves); audited."""
    now = clock.now()

    async def work(session: Any) -> Segment:
        before = await mongo[COLLECTION].find_one({"_id": segment.id}, session=session)
        if (
            before is None
            and await mongo[COLLECTION].count_documents({}, session=session) >= MAX_SEGMENTS
        ):
            raise TooManySegments(f"a program keeps at most {MAX_SEGMENTS} segments")
        saved = segment.model_copy(
            update={
                "version": 1 if before is None else int(before["version"]) + 1,
                "updated_at": now,
                "updated_by": actor,
            }
        )
        await mongo[COLLECTION].replace_one(
            {"_id": segment.id}, _document(saved), upsert=True, session=session
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="segment.save",
            target=f"segment:{segment.id}",
            before=None if before is None else {"when": before["when"], "name": before["name"]},
            after={"when": dump(segment.when), "name": segment.name},
            session=session,
        )
        return saved

    result: Segment = await mongo.transaction(work)
    return result


async def delete_segment(mongo: Mongo, clock: Clock, segment_id: str, *, actor: str) -> None:
    async def work(session: Any) -> None:
        before = await mongo[COLLECTION].find_one_and_delete({"_id": segment_id}, session=session)
        if before is None:
            raise SegmentNotFound(segment_id)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="segment.delete",
            target=f"segment:{segment_id}",
            before={"when": before["when"], "name": before["name"]},
            session=session,
        )

    await mongo.transaction(work)


async def get_segment(mongo: Mongo, segment_id: str) -> Segment:
    document = await mongo[COLLECTION].find_one({"_id": segment_id})
    if document is None:
        raise SegmentNotFound(segment_id)
    return _segment(document)


async def list_segments(mongo: Mongo) -> list[Segment]:
    return [_segment(doc) async for doc in mongo[COLLECTION].find().sort("_id", 1)]


@dataclass(frozen=True, slots=True)
class SegmentMember:
    member_id: str
    member_no: str
    name: str
    tier: str
    points: int
    lifetime_points: int
    last_activity_at: datetime | None


def member_facts(
    program: Program, member: Document, account: AccountCounters, now: datetime
) -> dict[str, Any]:
    """The facts a segment reads of one member (conditions.FACTS, scopes member and account)."""
    last = account.last_activity_at
    birthday = member.get("birthday")
    return {
        "tier": member["tier"],
        "joined_on": program.local_date(member["joined_at"]),
        "birthday_month": None if birthday is None else birthday.month,
        "status": member.get("status", MemberStatus.ACTIVE.value),
        "points": account.available,
        "lifetime_points": account.lifetime_earned,
        "redeemed_points": account.lifetime_redeemed,
        "days_since_activity": None if last is None else max((now - last).days, 0),
    }


async def _matches(
    mongo: Mongo, program: Program, decide: Predicate, now: datetime, after: str | None, limit: int
) -> AsyncIterator[tuple[str, SegmentMember | None]]:
    """Each member looked at (in `_id` order after `after`, at most `limit`), with the member
    when the segment takes them."""
    overdue = await overdue_by_member(mongo, now)
    seen = 0
    while seen < limit:
        query: Document = {"status": {"$ne": MemberStatus.ERASED.value}}
        if after is not None:
            query["_id"] = {"$gt": after}
        size = min(BATCH, limit - seen)
        members = (
            await mongo["members"].find(query, MEMBER_FIELDS).sort("_id", 1).limit(size).to_list()
        )
        if not members:
            return
        accounts = await account_counters(mongo, [m["_id"] for m in members], overdue)
        for member in members:
            account = accounts.get(member["_id"], NO_ACCOUNT)
            taken = decide(member_facts(program, member, account, now), None)
            yield (
                member["_id"],
                (
                    SegmentMember(
                        member["_id"],
                        member.get("member_no", ""),
                        member.get("name", ""),
                        member["tier"],
                        account.available,
                        account.lifetime_earned,
                        account.last_activity_at,
                    )
                    if taken
                    else None
                ),
            )
        seen += len(members)
        after = members[-1]["_id"]
        if len(members) < size:
            return


def _decider(segment: Segment) -> Predicate:
    # Each member's facts are a mapping of their own: the compiled form may keep answers in it.
    return compile_condition(segment.when)


async def count_segment(
    mongo: Mongo, program: Program, segment: Segment, now: datetime
) -> tuple[int, int]:
    """How many members the segment takes now, and the points they hold (available)."""
    decide = _decider(segment)
    members = points = 0
    async for _, member in _matches(mongo, program, decide, now, None, 10**12):
        if member is not None:
            members += 1
            points += member.points
    return members, points


async def segment_page(
    mongo: Mongo,
    program: Program,
    segment: Segment,
    now: datetime,
    *,
    first: int,
    after: str | None,
) -> tuple[list[SegmentMember], str | None]:
    """Up to `first` members of the segment after the member id `after`, and where the next page
    starts (None: no more), having looked at SCAN_LIMIT members at most."""
    decide = _decider(segment)
    found: list[SegmentMember] = []
    last = after
    exhausted = True
    async for member_id, member in _matches(mongo, program, decide, now, after, SCAN_LIMIT):
        last = member_id
        if member is not None:
            found.append(member)
            if len(found) == first:
                exhausted = False
                break
    else:
        # Stopped by the scan limit (more members may follow) or by the end of the members.
        exhausted = (
            last is None
            or await mongo["members"].find_one({"_id": {"$gt": last}}, {"_id": 1}) is None
        )
    return found, None if exhausted else last


async def segments_of(
    mongo: Mongo, program: Program, member: Member, segment_ids: set[str], now: datetime
) -> frozenset[str]:
    """Of `segment_ids`, the segments the member is in now (a purchase whose rules name
    segments: three reads, the segments, the member's balance, their account's counters)."""
    found = [
        _segment(doc) async for doc in mongo[COLLECTION].find({"_id": {"$in": sorted(segment_ids)}})
    ]
    if not found:
        return frozenset()
    balance = await get_balance(mongo, member.id, now)
    counters = (await account_counters(mongo, [member.id], {})).get(member.id, NO_ACCOUNT)
    document = {
        "tier": member.tier,
        "joined_at": member.joined_at,
        "birthday": member.birthday,
        "status": member.status.value,
    }
    facts = member_facts(program, document, replace(counters, available=balance.available), now)
    return frozenset(
        segment.id for segment in found if compile_condition(segment.when)(dict(facts), None)
    )


async def segment_member_ids(
    mongo: Mongo, program: Program, segment: Segment, now: datetime
) -> AsyncIterator[str]:
    """Every member the segment takes now (a bulk job's selection)."""
    decide = _decider(segment)
    async for member_id, member in _matches(mongo, program, decide, now, None, 10**12):
        if member is not None:
            yield member_id
