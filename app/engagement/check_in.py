"""Daily check-in (签到): once per local day in the program's time zone, points by streak.

`check_ins` holds one document per member (`_id` = member id): the last local day checked in,
the streak that day reached, its points, its ledger entry and the client's key. A check-in is
one transaction through the ledger's unit of work: read that document, earn the day's points
(the tier's expiry terms), count them as qualifying points (which may upgrade the tier), write
the document. Its ledger key is the member and the local day, so two taps racing on one day
conflict on the member's documents, the loser is retried, finds the day done and answers with
the first result (`already_done`); the same happens to a client's retry, even one that arrives
after midnight with the same idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from app.challenges import advance_streak, streak_reward_due
from app.clock import Clock
from app.db import Document, Mongo
from app.engagement.errors import CheckInNotConfigured
from app.ledger import BreakdownLine, Entry, LedgerUnit, run_in_ledger
from app.members import (
    Member,
    MemberStatus,
    MemberSuspended,
    TierChange,
    get_member,
    qualify,
    qualifying_tally,
)
from app.program import CheckIn, Program, ProgramNotConfigured, current_program, issue_terms


@dataclass(frozen=True, slots=True)
class CheckInResult:
    day: date
    streak: int
    points: int
    entry_id: str | None  # None for a day of the streak worth 0 points
    already_done: bool
    tier_change: TierChange | None = None


@dataclass(frozen=True, slots=True)
class CheckInStatus:
    streak: int  # consecutive local days up to today or yesterday; 0 once a day was missed
    today_done: bool
    next_points: int  # what the next check-in gives (today's if not done, else tomorrow's)


class _AlreadyDone(Exception):
    def __init__(self, document: Document) -> None:
        self.document = document


class _WrongPath(Exception):
    """The day turned out worth points when none were expected, or none when some were."""

    def __init__(self, document: Document | None) -> None:
        self.document = document


def streak_points(rules: CheckIn, day: int) -> int:
    """Points of day `day` (1-based) of a streak; the last value repeats after the list."""
    return rules.points_by_streak[min(day, len(rules.points_by_streak)) - 1]


def next_streak(rules: CheckIn, document: Document | None, today: date) -> int:
    """The streak a check-in today reaches: one more after yesterday's, else day 1 again."""
    if document is None or document.get("last_date") != (today - timedelta(days=1)).isoformat():
        return 1
    streak = int(document["streak"]) + 1
    if rules.restart_after_last and streak > len(rules.points_by_streak):
        return 1
    return streak


def check_in_status(program: Program, document: Document | None, now: datetime) -> CheckInStatus:
    """Where the member's streak stands at `now` (`document`: its check_ins document)."""
    rules = _rules(program)
    today = program.local_date(now)
    last = None if document is None else document.get("last_date")
    if last == today.isoformat():
        assert document is not None
        upcoming = next_streak(rules, document, today + timedelta(days=1))
        return CheckInStatus(int(document["streak"]), True, streak_points(rules, upcoming))
    alive = document is not None and last == (today - timedelta(days=1)).isoformat()
    streak = int(document["streak"]) if alive and document is not None else 0
    upcoming = next_streak(rules, document, today)
    return CheckInStatus(streak, False, streak_points(rules, upcoming))


async def read_check_in(mongo: Mongo, member_id: str) -> Document | None:
    return await mongo["check_ins"].find_one({"_id": member_id})


def _rules(program: Program) -> CheckIn:
    if program.check_in is None:
        raise CheckInNotConfigured("the program has no daily check-in")
    return program.check_in


def _result(document: Document, *, already_done: bool) -> CheckInResult:
    return CheckInResult(
        day=date.fromisoformat(document["last_date"]),
        streak=int(document["streak"]),
        points=int(document["points"]),
        entry_id=document.get("entry_id"),
        already_done=already_done,
    )


async def check_in(
    mongo: Mongo, clock: Clock, *, member_id: str, idempotency_key: str | None = None
) -> CheckInResult:
    """Check the member in for today (program's time zone); a second call the same day, or a
    retry with the same key, returns the first result with `already_done` and earns nothing.

    Raises CheckInNotConfigured (no program yet, or no check-in in it), MemberNotFound,
    MemberSuspended.
    """
    try:
        program = await current_program(mongo)
    except ProgramNotConfigured:
        raise CheckInNotConfigured("the program has no daily check-in") from None
    rules = _rules(program)
    member = await get_member(mongo, member_id)
    if member.status is not MemberStatus.ACTIVE:
        raise MemberSuspended(f"the member is {member.status.value}: no points are earned")
    document = await read_check_in(mongo, member_id)
    for _ in range(3):
        today = program.local_date(clock.now())
        if _done(document, today, idempotency_key):
            assert document is not None
            return _result(document, already_done=True)
        streak = next_streak(rules, document, today)
        worth = streak_points(rules, streak)
        if worth == 0 and await streak_reward_due(mongo, program, member_id, streak, clock.now()):
            worth = 1  # a streak challenge completes today: its points need the day's entry
        try:
            if worth == 0:
                return await _check_in_without_points(
                    mongo, clock, program, member, idempotency_key
                )
            return await _check_in_with_points(mongo, clock, program, member, idempotency_key)
        except _AlreadyDone as done:
            return _result(done.document, already_done=True)
        except _WrongPath as wrong:  # the streak moved since it was read (midnight, a race)
            document = wrong.document
    raise RuntimeError("the check-in streak kept moving")


async def _check_in_with_points(
    mongo: Mongo, clock: Clock, program: Program, member: Member, key: str | None
) -> CheckInResult:
    """Points through the ledger; the ledger key is the member's local day."""

    async def work(unit: LedgerUnit) -> CheckInResult:
        return await _record_day(mongo, unit.session, unit.now, program, member, key, unit)

    async def replay(entry: Entry) -> CheckInResult:
        first = await read_check_in(mongo, member.id)
        assert first is not None, "a check-in's entry always has its check-in"
        return _result(first, already_done=True)

    today = program.local_date(clock.now())
    return await run_in_ledger(
        mongo,
        clock,
        work,
        idempotency_key=f"checkin:{member.id}:{today.isoformat()}",
        fingerprint="checkin",
        replay=replay,
    )


def _done(document: Document | None, today: date, key: str | None) -> bool:
    if document is None:
        return False
    return document.get("last_date") == today.isoformat() or (
        key is not None and document.get("key") == key
    )


async def _check_in_without_points(
    mongo: Mongo, clock: Clock, program: Program, member: Member, key: str | None
) -> CheckInResult:
    """A day of the streak worth 0 points: no ledger entry, only the streak moves."""

    async def work(session: AsyncClientSession) -> CheckInResult:
        return await _record_day(mongo, session, clock.now(), program, member, key, None)

    return await mongo.transaction(work)


async def _record_day(
    mongo: Mongo,
    session: AsyncClientSession,
    now: datetime,
    program: Program,
    member: Member,
    key: str | None,
    unit: LedgerUnit | None,
) -> CheckInResult:
    rules = _rules(program)
    today = program.local_date(now)
    document = await mongo["check_ins"].find_one({"_id": member.id}, session=session)
    if _done(document, today, key):
        assert document is not None
        raise _AlreadyDone(document)
    streak = next_streak(rules, document, today)
    points = streak_points(rules, streak)
    # Streak challenges (app/challenges) this day completes add their rows to the day's entry.
    rewards = await advance_streak(mongo, session, program, member.id, streak, now)
    total = points + sum(reward for _, _, reward in rewards)
    if (unit is None) != (total == 0):
        raise _WrongPath(document)
    entry_id, change = None, None
    if unit is not None:
        terms = issue_terms(program, member.tier)
        counted = qualifying_tally(program, now, points=total, at=now)
        breakdown = [BreakdownLine("check-in", f"Daily check-in, day {streak}", points)]
        breakdown += [BreakdownLine(rule, text, reward) for rule, text, reward in rewards]
        entry = await unit.earn(
            member.id,
            total,
            breakdown=breakdown if rewards else (),
            policy=terms.policy,
            policy_version=terms.policy_version,
            tz=terms.tz,
            reference=f"check-in:{today.isoformat()}",
            description=f"Daily check-in, day {streak}",
            actor=member.id,
            channel="app",
            tally=counted,
        )
        entry_id = entry.id
        if counted is not None:
            progress = unit.tallied(member.id, counted.name)
            change = await qualify(
                mongo,
                session,
                now,
                program,
                member_id=member.id,
                progress=progress,
                entry_id=entry_id,
            )
    day: Document = {
        "last_date": today.isoformat(),
        "streak": streak,
        "points": points,
        "entry_id": entry_id,
        "key": key,
        "at": now,
    }
    await mongo["check_ins"].update_one(
        {"_id": member.id}, {"$set": day}, upsert=True, session=session
    )
    return CheckInResult(today, streak, points, entry_id, already_done=False, tier_change=change)
