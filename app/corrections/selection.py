"""Which members a bulk clear or extension takes: a filter, decided once, and its dry run.

A filter is "no activity for more than N days" (the account's last_activity_at before a cut-off
instant, fixed when the job is made), "tier = X", or "the members of segment S" (app/segments: its
condition over members and accounts, decided when the job is made). Reads are one index range each: the accounts'
last_activity_at, or the members' tier, then the accounts of those members by id. Members with
no points to take (nothing available, pending or held) are left out: a clear would only write an
empty entry for them, an extension would move nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import Document, Mongo
from app.ledger import account_points, overdue_by_member
from app.program import current_program
from app.segments import SegmentNotFound, get_segment, segment_member_ids

MAX_DORMANT_DAYS = 36_500
MAX_TIER = 64
ID_BATCH = 1_000  # member ids per `$in` read of their accounts


class InvalidFilter(ValueError):
    """The filter names no members by a rule we know (both or neither of dormant days and tier)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MemberFilter:
    dormant_days: int | None = None
    tier: str | None = None
    segment: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.dormant_days, self.tier, self.segment) if v is not None]
        if len(given) != 1:
            raise InvalidFilter("filter", "give exactly one of dormantDays, tier and segment")
        if self.segment is not None and not 0 < len(self.segment) <= MAX_TIER:
            raise InvalidFilter("segment", f"a segment id of 1 to {MAX_TIER} characters")
        if self.dormant_days is not None and not 0 < self.dormant_days <= MAX_DORMANT_DAYS:
            raise InvalidFilter("dormant_days", f"dormant days must be 1 to {MAX_DORMANT_DAYS}")
        if self.tier is not None and not 0 < len(self.tier) <= MAX_TIER:
            raise InvalidFilter("tier", f"a tier code of 1 to {MAX_TIER} characters")

    def cutoff(self, now: datetime) -> datetime | None:
        """Members whose last activity is before this instant are dormant."""
        return None if self.dormant_days is None else now - timedelta(days=self.dormant_days)

    def to_document(self) -> Document:
        return {"dormant_days": self.dormant_days, "tier": self.tier, "segment": self.segment}

    @classmethod
    def from_document(cls, doc: Document) -> MemberFilter:
        return cls(
            dormant_days=doc.get("dormant_days"), tier=doc.get("tier"), segment=doc.get("segment")
        )


@dataclass(frozen=True)
class Candidate:
    member_id: str
    points: int  # what a clear takes now: available + pending + held


@dataclass(frozen=True)
class Preview:
    members: int
    points: int


def _candidate(member_id: str, points: int, overdue: dict[str, int]) -> Candidate | None:
    points -= overdue.get(member_id, 0)
    return Candidate(member_id, points) if points > 0 else None


async def select(
    mongo: Mongo, member_filter: MemberFilter, cutoff: datetime | None, now: datetime
) -> AsyncIterator[Candidate]:
    """The members the filter takes, with their points at `now` (points past their expiry that
    no job has taken yet left out), in no particular order."""
    overdue = await overdue_by_member(mongo, now)
    if cutoff is not None:
        accounts = account_points(mongo, inactive_before=cutoff, batch_size=ID_BATCH)
    elif member_filter.segment is not None:
        try:
            segment = await get_segment(mongo, member_filter.segment)
        except SegmentNotFound:
            raise InvalidFilter("segment", f"no segment {member_filter.segment!r}") from None
        program = await current_program(mongo)
        ids = [member_id async for member_id in segment_member_ids(mongo, program, segment, now)]
        accounts = account_points(mongo, member_ids=ids, batch_size=ID_BATCH)
    else:
        ids = []
        async for member in mongo["members"].find(
            {"tier": member_filter.tier}, {"_id": 1}, batch_size=ID_BATCH
        ):
            ids.append(member["_id"])
        accounts = account_points(mongo, member_ids=ids, batch_size=ID_BATCH)
    async for member_id, points in accounts:
        candidate = _candidate(member_id, points, overdue)
        if candidate is not None:
            yield candidate


async def preview(mongo: Mongo, member_filter: MemberFilter, now: datetime) -> Preview:
    """The dry run: how many members the filter takes now, and the points a clear would take."""
    members = points = 0
    async for candidate in select(mongo, member_filter, member_filter.cutoff(now), now):
        members += 1
        points += candidate.points
    return Preview(members, points)
