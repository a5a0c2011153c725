"""Challenges and badges: goals in a window (3 purchases in March, 1,000 CNY spent in a quarter,
3 categories tried in a month), each member's progress, and a reward once per member per window.

The program configures them (`Program.challenges`, app/program/models.py). A purchase advances
every challenge that is running at its instant and whose `when` its order and member meet, in the
purchase's own transaction (`advance`, called by app/partners/purchases.py):

- one read of the member's progress documents for those challenges (`challenge_progress`,
  `<challenge>|<window>|<member>`), one bulk write of the new progress;
- a challenge whose goal the purchase reaches is completed by it: its reward points become a row
  `challenge:<id>` of the purchase's own EARN entry (so they follow the purchase's expiry and
  return window), and its badge is kept in `member_badges` (once per badge).

Exact under concurrent purchases of one member: both write the same progress document, so the
database lets one commit and reruns the other from the start, which then reads the progress the
first left (and finds the challenge completed). A replayed order is not counted again (the ledger
returns the first answer without running the purchase). Refunds do not take progress back.

A window is a calendar period in the program's time zone (`2026-03`, `2026-Q1`, `2026-W10`,
`2026`) or the challenge's fixed window (`once`). Progress read by the member:
`me { challenges { ... } badges { ... } }` (graphql_schema/member/challenges.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.program import (
    Challenge,
    EarnResult,
    EarnRow,
    MemberFacts,
    Program,
    Purchase,
    compiled_condition,
    order_facts,
)

PROGRESS, BADGES = "challenge_progress", "member_badges"
MONEY_UNIT = Decimal("0.0001")  # spend is kept in ten-thousandths: exact integer sums


def window_of(program: Program, challenge: Challenge, at: datetime) -> tuple[str, datetime] | None:
    """The challenge's window holding `at` (its key and its end), None when it is not running."""
    if challenge.period is None:
        assert challenge.ends_at is not None
        starts = challenge.starts_at
        if (starts is not None and at < starts) or at >= challenge.ends_at:
            return None
        return "once", challenge.ends_at
    day = program.local_date(at)
    if challenge.period == "week":
        year, week, weekday = day.isocalendar()
        return f"{year}-W{week:02d}", _local_start(program, day + timedelta(days=8 - weekday))
    if challenge.period == "month":
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return f"{day.year}-{day.month:02d}", _local_start(program, following)
    if challenge.period == "quarter":
        quarter = (day.month - 1) // 3
        first = quarter * 3 + 4
        following = date(day.year + (first > 12), (first - 1) % 12 + 1, 1)
        return f"{day.year}-Q{quarter + 1}", _local_start(program, following)
    return str(day.year), _local_start(program, date(day.year + 1, 1, 1))


def _local_start(program: Program, day: date) -> datetime:
    return datetime.combine(day, time()).replace(tzinfo=program.zone, fold=0).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Progress:
    challenge: Challenge
    window: str
    ends_at: datetime
    value: Decimal  # purchases, money spent, or distinct categories so far
    completed_at: datetime | None

    @property
    def goal(self) -> Decimal:
        return self.challenge.goal


def _value(challenge: Challenge, document: Document) -> Decimal:
    if challenge.metric == "check_in_streak":
        return Decimal(int(document.get("streak", 0)))
    if challenge.metric == "purchases":
        return Decimal(int(document.get("purchases", 0)))
    if challenge.metric == "spend":
        return Decimal(int(document.get("spend", 0))) * MONEY_UNIT
    return Decimal(len(document.get("categories", [])))


def _key(challenge: Challenge, window: str, member_id: str) -> str:
    return f"{challenge.id}|{window}|{member_id}"


async def advance(
    mongo: Mongo,
    session: AsyncClientSession,
    program: Program,
    member: MemberFacts,
    purchase: Purchase,
    result: EarnResult,
    now: datetime,
) -> EarnResult:
    """Count the purchase in the member's running challenges it qualifies for; the earn result
    with a row for each challenge it completes (none read or written without a challenge)."""
    if not program.challenges:
        return result
    facts: dict[str, Any] | None = None
    running: list[tuple[Challenge, str]] = []
    for challenge in program.challenges:
        if challenge.metric == "check_in_streak":
            continue  # advanced by check-ins (advance_streak)
        holding = window_of(program, challenge, purchase.occurred_at)
        if holding is None:
            continue
        decide = compiled_condition(program, f"challenge:{challenge.id}")
        if decide is not None:
            facts = facts if facts is not None else order_facts(program, purchase, member)
            if not decide(facts, None):
                continue
        running.append((challenge, holding[0]))
    if not running:
        return result
    keys = [_key(challenge, window, member.member_id) for challenge, window in running]
    found = {
        doc["_id"]: doc
        async for doc in mongo[PROGRESS].find({"_id": {"$in": keys}}, session=session)
    }
    spend = purchase.total
    categories = sorted({line.category for line in purchase.lines})
    writes, rows, badges = [], list(result.rows), []
    for (challenge, window), key in zip(running, keys, strict=True):
        before = found.get(key, {})
        if before.get("completed_at") is not None:
            continue  # done in this window: nothing more to count
        after = {
            "purchases": int(before.get("purchases", 0)) + 1,
            "spend": int(before.get("spend", 0)) + int(spend / MONEY_UNIT),
            "categories": sorted(set(before.get("categories", [])) | set(categories))[:100],
        }
        update: Document = {
            "challenge": challenge.id,
            "window": window,
            "member_id": member.member_id,
            **after,
        }
        if _value(challenge, after) >= challenge.goal:
            update["completed_at"] = now
            reward = challenge.reward
            if reward.points:
                rows.append(
                    EarnRow(
                        None,
                        f"challenge:{challenge.id}",
                        program.version,
                        reward.points,
                        f"{challenge.name} completed",
                    )
                )
            if reward.badge is not None:
                badges.append(_badge(member.member_id, challenge, window, now))
        writes.append(UpdateOne({"_id": key}, {"$set": update}, upsert=True))
    if writes:
        await mongo[PROGRESS].bulk_write(writes, ordered=True, session=session)
    if badges:
        await mongo[BADGES].bulk_write(badges, ordered=True, session=session)
    if len(rows) == len(result.rows):
        return result
    added = sum(row.points for row in rows[len(result.rows) :])
    return replace(result, rows=tuple(rows), total=result.total + added)


def _streak_challenges(program: Program, now: datetime) -> list[tuple[Challenge, str]]:
    running = []
    for challenge in program.challenges:
        if challenge.metric == "check_in_streak":
            holding = window_of(program, challenge, now)
            if holding is not None:
                running.append((challenge, holding[0]))
    return running


async def streak_reward_due(
    mongo: Mongo, program: Program, member_id: str, streak: int, now: datetime
) -> bool:
    """Whether a check-in reaching `streak` today completes a streak challenge that gives
    points (its check-in then needs a ledger entry, even on a day worth 0 points)."""
    running = [(c, w) for c, w in _streak_challenges(program, now) if c.reward.points]
    if not running:
        return False
    keys = [_key(c, w, member_id) for c, w in running]
    done = {
        doc["_id"]
        async for doc in mongo[PROGRESS].find(
            {"_id": {"$in": keys}, "completed_at": {"$ne": None}}, {"_id": 1}
        )
    }
    return any(
        key not in done and streak >= c.goal for (c, _), key in zip(running, keys, strict=True)
    )


async def advance_streak(
    mongo: Mongo,
    session: AsyncClientSession,
    program: Program,
    member_id: str,
    streak: int,
    now: datetime,
) -> list[tuple[str, str, int]]:
    """Inside a check-in's transaction: the member's streak in each running streak challenge;
    for each it completes, its (rule, description, points) row for the check-in's entry (its badge
    kept). Nothing read or written without a streak challenge."""
    running = _streak_challenges(program, now)
    if not running:
        return []
    keys = [_key(c, w, member_id) for c, w in running]
    found = {
        doc["_id"]: doc
        async for doc in mongo[PROGRESS].find({"_id": {"$in": keys}}, session=session)
    }
    writes, badges, rows = [], [], []
    for (challenge, window), key in zip(running, keys, strict=True):
        before = found.get(key, {})
        if before.get("completed_at") is not None:
            continue
        update: Document = {
            "challenge": challenge.id,
            "window": window,
            "member_id": member_id,
            "streak": max(int(before.get("streak", 0)), streak),
        }
        if streak >= challenge.goal:
            update["completed_at"] = now
            reward = challenge.reward
            if reward.points:
                rows.append(
                    (f"challenge:{challenge.id}", f"{challenge.name} completed", reward.points)
                )
            if reward.badge is not None:
                badges.append(_badge(member_id, challenge, window, now))
        writes.append(UpdateOne({"_id": key}, {"$set": update}, upsert=True))
    if writes:  # none when every running one is completed in its window
        await mongo[PROGRESS].bulk_write(writes, ordered=True, session=session)
    if badges:
        await mongo[BADGES].bulk_write(badges, ordered=True, session=session)
    return rows


def _badge(member_id: str, challenge: Challenge, window: str, now: datetime) -> UpdateOne:
    reward = challenge.reward
    return UpdateOne(
        {"_id": f"{member_id}|{reward.badge}"},
        {
            "$setOnInsert": {
                "member_id": member_id,
                "badge": reward.badge,
                "name": reward.badge_name,
                "challenge": challenge.id,
                "window": window,
                "earned_at": now,
            }
        },
        upsert=True,
    )


async def member_progress(
    mongo: Mongo, program: Program, member_id: str, now: datetime
) -> list[Progress]:
    """The member's progress in every challenge running now (one read)."""
    running = []
    for challenge in program.challenges:
        window = window_of(program, challenge, now)
        if window is not None:
            running.append((challenge, window))
    keys = [_key(challenge, window, member_id) for challenge, (window, _) in running]
    found = {doc["_id"]: doc async for doc in mongo[PROGRESS].find({"_id": {"$in": keys}})}
    return [
        Progress(
            challenge,
            window,
            ends_at,
            _value(challenge, found.get(key, {})),
            found.get(key, {}).get("completed_at"),
        )
        for (challenge, (window, ends_at)), key in zip(running, keys, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Badge:
    code: str
    name: str
    challenge: str
    earned_at: datetime


async def member_badges(mongo: Mongo, member_id: str) -> list[Badge]:
    """The member's badges, oldest first (at most one per badge code)."""
    cursor = mongo[BADGES].find({"member_id": member_id}).sort("earned_at", 1).limit(200)
    return [
        Badge(doc["badge"], doc["name"], doc["challenge"], doc["earned_at"]) async for doc in cursor
    ]
