"""Active and dormant members: who earned or spent within the last N days, as of now.

An account's `last_activity_at` is its last earn or spend (app/ledger/book/catchup.py). Active:
at or after now − N days; dormant: before it; never active: no activity at all (an account
opened by an adjustment only). Each group with the points its members hold (available +
pending + held), so an operator sees what a 清零 of dormant members would take.

Summing every account on request costs the number of members (some 5 s for 100,000 on
SecantusDB), so a tally kept by the rollup's job (`keep_activity`) answers instead:

- `activity_members`: per member, the last activity and the points the tally counted for them,
  as their account said when the job read it;
- `activity_days`: per UTC day of last activity (or "never"), the members and points of the
  first collection, kept equal to its sums in the same transactions;
- in `meta`, the tally's watermark: every account changed since the job read it has an entry
  recorded after the watermark (the job sets it SETTLE before the read started, as the rollup's:
  an entry commits within SETTLE of its `recorded_at`).

A read, in one snapshot: the day documents (a few hundred a year); the members of the day the
cut-off falls in, split at the exact instant; the members with an entry recorded after the
watermark, their tallied state taken out and their account as it is now put in; and the points
past their expiry that no job has taken yet (app.ledger.overdue_by_member), each taken from its
member's group. Its cost follows the days, one day's members, the entries since the watermark and
the overdue lots, never the number of members; exact whatever the jobs have done. Before the
tally's first run it sums the accounts themselves.

The ledger's writes know nothing of the tally: the job re-reads the accounts of the members with
entries recorded since its watermark, a chunk of them per transaction; each chunk replaces those
members' tallied state with their account's, so a chunk done twice changes nothing and a run
killed midway only leaves work to the next one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import (
    BY_ID_AT_MOST,
    AccountActivity,
    account_activity,
    all_account_activity,
    members_recorded_after,
    overdue_by_member,
)
from app.reports.periods import ReportInvalid
from app.reports.rollup import SETTLE
from app.reports.table import Table

MAX_DORMANT_DAYS = 3660
MEMBERS = "activity_members"  # {_id: member id, at: last activity | None, points}
DAYS = "activity_days"  # {_id: "YYYY-MM-DD" (UTC day of last activity) | "never", members, points}
STATE_ID = "activity_tally"  # the tally's watermark, in `meta`
NEVER = "never"
CHUNK = 1000  # members re-read per transaction of the job


@dataclass(frozen=True, slots=True)
class Group:
    members: int = 0
    points: int = 0


@dataclass(frozen=True, slots=True)
class MemberActivity:
    as_of: datetime
    dormant_days: int
    active: Group
    dormant: Group
    never_active: Group

    def table(self) -> Table:
        header = ("as_of", "dormant_days", "group", "members", "points")
        groups = (("active", self.active), ("dormant", self.dormant))
        return Table(
            header,
            tuple(
                (self.as_of, self.dormant_days, name, group.members, group.points)
                for name, group in (*groups, ("never_active", self.never_active))
            ),
        )


def _day(at: datetime | None) -> str:
    return NEVER if at is None else at.astimezone(UTC).date().isoformat()


class _Groups:
    """The three groups' members and points, summed as the read goes."""

    def __init__(self, cutoff: datetime) -> None:
        self.cutoff = cutoff
        self.sums = {name: [0, 0] for name in ("active", "dormant", NEVER)}

    def of(self, at: datetime | None) -> str:
        if at is None:
            return NEVER
        return "active" if at >= self.cutoff else "dormant"

    def add(self, name: str, members: int, points: int) -> None:
        self.sums[name][0] += members
        self.sums[name][1] += points

    def result(self, now: datetime, dormant_days: int) -> MemberActivity:
        active, dormant, never = (Group(*self.sums[name]) for name in ("active", "dormant", NEVER))
        return MemberActivity(now, dormant_days, active, dormant, never)


async def member_activity(mongo: Mongo, clock: Clock, dormant_days: int) -> MemberActivity:
    """As of now: points past their expiry that the job has not yet taken are not counted."""
    if not 1 <= dormant_days <= MAX_DORMANT_DAYS:
        raise ReportInvalid("dormant_days", f"dormantDays must be 1 to {MAX_DORMANT_DAYS}")
    now = clock.now()
    cutoff = now - timedelta(days=dormant_days)
    state = await mongo["meta"].find_one({"_id": STATE_ID})
    if state is None or state.get("mark") is None:
        # Not in a transaction: a million accounts take longer than its budget.
        groups = _Groups(cutoff)
        await _sum_accounts(mongo, groups, now)
        return groups.result(now, dormant_days)

    async def read(session: AsyncClientSession) -> _Groups:
        groups = _Groups(cutoff)  # afresh if the transaction is retried
        state = await mongo["meta"].find_one({"_id": STATE_ID}, session=session)
        assert state is not None  # the tally's state is never removed
        await _read_tally(mongo, session, groups, now, state["mark"])
        return groups

    return (await mongo.transaction(read)).result(now, dormant_days)


async def _read_tally(
    mongo: Mongo, session: AsyncClientSession, groups: _Groups, now: datetime, mark: datetime
) -> None:
    """The tally's groups, its members changed since `mark` as their accounts are now, less the
    points overdue at `now`."""
    cut_day = _day(groups.cutoff)
    async for day in mongo[DAYS].find({}, session=session):
        if day["_id"] == NEVER:
            groups.add(NEVER, day["members"], day["points"])
        elif day["_id"] != cut_day:  # the cut-off's own day is split member by member below
            groups.add("dormant" if day["_id"] < cut_day else "active", *_sums(day))
    start = datetime.fromisoformat(cut_day).replace(tzinfo=UTC)
    on_cut_day = {"at": {"$gte": start, "$lt": start + timedelta(days=1)}}
    async for member in mongo[MEMBERS].find(on_cut_day, session=session):
        groups.add(groups.of(member["at"]), 1, member["points"])
    changed = await members_recorded_after(mongo, mark, session)
    tallied = await _tallied(mongo, changed, session)
    accounts = await account_activity(mongo, changed, session)
    for member_id in changed:
        if (before := tallied.get(member_id)) is not None:
            groups.add(groups.of(before.last_activity_at), -1, -before.points)
        if (now_is := accounts.get(member_id)) is not None:
            groups.add(groups.of(now_is.last_activity_at), 1, now_is.points)
    overdue = await overdue_by_member(mongo, now, session)
    unchanged = [member_id for member_id in overdue if member_id not in accounts]
    last = {member_id: account.last_activity_at for member_id, account in accounts.items()}
    for member_id, seen in (await _tallied(mongo, unchanged, session)).items():
        last[member_id] = seen.last_activity_at
    for member_id, points in overdue.items():
        groups.add(groups.of(last.get(member_id)), 0, -points)


def _sums(day: Document) -> tuple[int, int]:
    return day["members"], day["points"]


async def _tallied(
    mongo: Mongo, member_ids: Sequence[str], session: AsyncClientSession | None
) -> dict[str, AccountActivity]:
    """The members' tallied state: by ids, or in one pass over the tally for more than
    BY_ID_AT_MOST of them (as app.ledger.account_activity)."""
    if not member_ids:
        return {}
    many = len(member_ids) > BY_ID_AT_MOST
    query = {} if many else {"_id": {"$in": list(member_ids)}}
    wanted = set(member_ids)
    return {
        doc["_id"]: AccountActivity(doc["at"], doc["points"])
        async for doc in mongo[MEMBERS].find(query, batch_size=10_000, session=session)
        if doc["_id"] in wanted
    }


async def _sum_accounts(mongo: Mongo, groups: _Groups, now: datetime) -> None:
    """Without a tally yet: every account summed in the database (one aggregate over them all),
    less what is overdue of each."""
    last = {"$ifNull": ["$last_activity_at", None]}
    group = {
        "$cond": [
            {"$eq": [last, None]},
            NEVER,
            {"$cond": [{"$gte": [last, groups.cutoff]}, "active", "dormant"]},
        ]
    }
    held = {"$add": ["$available", "$pending", "$held"]}
    pipeline: list[Document] = [
        {"$group": {"_id": group, "members": {"$sum": 1}, "points": {"$sum": held}}}
    ]
    async for row in await mongo["accounts"].aggregate(pipeline):
        groups.add(row["_id"], row["members"], row["points"])
    overdue = await overdue_by_member(mongo, now)
    accounts = await account_activity(mongo, list(overdue))
    for member_id, points in overdue.items():
        seen = accounts.get(member_id)
        groups.add(groups.of(None if seen is None else seen.last_activity_at), 0, -points)


async def keep_activity(mongo: Mongo, clock: Clock, settle: timedelta = SETTLE) -> int:
    """Bring the tally up to the accounts as they are now: on its first run every account (read
    in one pass), then the members with entries recorded since its watermark (read by id), CHUNK
    of them per transaction; the watermark moves to `settle` before the run began (compare and
    set: a run that another one overtook leaves it). The number of members re-read."""
    started = clock.now()
    state = await mongo["meta"].find_one({"_id": STATE_ID}) or {}
    mark = state.get("mark")
    count = 0
    if mark is None:  # every account once: one pass costs what some 3,000 reads by id do
        chunk: dict[str, AccountActivity] = {}
        async for member_id, seen in all_account_activity(mongo):
            chunk[member_id] = seen
            if len(chunk) == CHUNK:
                count += await _tally(mongo, list(chunk), chunk)
                chunk = {}
        count += await _tally(mongo, list(chunk), chunk)
    else:
        members = await members_recorded_after(mongo, mark)
        for first in range(0, len(members), CHUNK):
            count += await _tally(mongo, members[first : first + CHUNK], None)
    moved_to = started - settle if mark is None else max(started - settle, mark)
    with contextlib.suppress(DuplicateKeyError):  # a first run at the same time set it first
        await mongo["meta"].update_one(
            {"_id": STATE_ID, "mark": mark}, {"$set": {"mark": moved_to}}, upsert=mark is None
        )
    return count


async def _tally(
    mongo: Mongo, member_ids: list[str], seen: dict[str, AccountActivity] | None
) -> int:
    """One transaction of `_retally`, with the accounts as `seen` (read since the run began) or
    as read in it."""
    if not member_ids:
        return 0

    async def retally(session: AsyncClientSession) -> None:
        accounts = seen if seen is not None else await account_activity(mongo, member_ids, session)
        await _retally(mongo, session, member_ids, accounts)

    await mongo.transaction(retally)
    return len(member_ids)


async def _retally(
    mongo: Mongo,
    session: AsyncClientSession,
    member_ids: list[str],
    after: dict[str, AccountActivity],
) -> None:
    """Replace the members' tallied state with their accounts' (`after`; a member without an
    account any more leaves the tally), and the days' sums with it."""
    before = await _tallied(mongo, member_ids, session)
    days: dict[str, list[int]] = {}
    writes: list[ReplaceOne[Document] | DeleteOne] = []
    for member_id in member_ids:
        was, now_is = before.get(member_id), after.get(member_id)
        if was == now_is:
            continue
        if was is not None:
            _move(days, _day(was.last_activity_at), -1, -was.points)
        if now_is is None:
            writes.append(DeleteOne({"_id": member_id}))
            continue
        _move(days, _day(now_is.last_activity_at), 1, now_is.points)
        tallied = {"at": now_is.last_activity_at, "points": now_is.points}
        writes.append(ReplaceOne({"_id": member_id}, tallied, upsert=True))
    if writes:
        await mongo[MEMBERS].bulk_write(writes, ordered=False, session=session)
    incs = [
        UpdateOne({"_id": day}, {"$inc": {"members": n, "points": p}}, upsert=True)
        for day, (n, p) in days.items()
        if n or p
    ]
    if incs:
        await mongo[DAYS].bulk_write(incs, ordered=False, session=session)


def _move(days: dict[str, list[int]], day: str, members: int, points: int) -> None:
    sums = days.setdefault(day, [0, 0])
    sums[0] += members
    sums[1] += points
