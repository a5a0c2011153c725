"""What the rules engine needs to know of a member's earlier purchases: points earned from
purchases on a local day (for the daily cap), whether this year's birthday bonus was given, how
many purchases the member made before (the `nth_purchase` fact of conditions), and what each rule
with a `cap_per_member` gave the member in its current period.

Kept in `earn_facts`, one small document per member and day (`<member>:day:<date>`), per member
and year (`<member>:birthday:<year>`), per member (`<member>:purchases`) and per member, rule and
period (`<member>:rule:<id>:<period>`), read with one command and written with one, and only
what the program uses (a program with none of these reads and writes nothing). The member's
account document is written by the same purchase when it earns, so two purchases of one member
serialise there and these counters never race; two purchases earning nothing may both read the
same purchase count (both are then the same nth purchase, and both earn nothing by it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Mongo
from app.members import Member
from app.program import EarnResult, MemberFacts, Program, Purchase
from app.segments import segments_of


@dataclass(frozen=True, slots=True)
class FactKeys:
    day: str
    birthday: str
    purchases: str
    rules: dict[str, str]  # rule id: its counter for the purchase's period


def period_key(period: str, day: date) -> str:
    """The local period a rule's member cap counts in: 2026-03-07, 2026-W10, 2026-03, 2026."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    return str(day.year)


def counts_purchases(program: Program) -> bool:
    """Whether a condition of the program reads `nth_purchase`."""
    return program.reads("nth_purchase")


def keys(program: Program, member_id: str, purchase: Purchase) -> FactKeys:
    local = program.local_date(purchase.occurred_at)
    rules = {
        rule.id: f"{member_id}:rule:{rule.id}:{period_key(rule.cap_per_member.period, local)}"
        for rule in program.earn.rules
        if rule.cap_per_member is not None
    }
    return FactKeys(
        f"{member_id}:day:{local.isoformat()}",
        f"{member_id}:birthday:{local.year}",
        f"{member_id}:purchases",
        rules,
    )


def needed(program: Program) -> bool:
    return (
        program.reads("segments")
        or program.earn.caps.per_member_per_day is not None
        or program.earn.birthday is not None
        or counts_purchases(program)
        or any(rule.cap_per_member is not None for rule in program.earn.rules)
    )


async def member_facts(
    mongo: Mongo,
    session: AsyncClientSession | None,
    program: Program,
    member: Member,
    purchase: Purchase,
) -> MemberFacts:
    joined_on = program.local_date(member.joined_at)
    segments: frozenset[str] = frozenset()
    if program.reads("segments"):
        named = {str(value) for value in program.named("segments")}
        segments = await segments_of(mongo, program, member, named, purchase.occurred_at)
    if not needed(program):
        return MemberFacts(
            tier=member.tier, birthday=member.birthday, joined_on=joined_on, member_id=member.id
        )
    names = keys(program, member.id, purchase)
    wanted = [names.day, names.birthday, *names.rules.values()]
    if counts_purchases(program):
        wanted.append(names.purchases)
    found = {
        doc["_id"]: doc
        async for doc in mongo["earn_facts"].find({"_id": {"$in": wanted}}, session=session)
    }
    return MemberFacts(
        tier=member.tier,
        birthday=member.birthday,
        earned_today=int(found.get(names.day, {}).get("points", 0)),
        birthday_bonus_taken=names.birthday in found,
        joined_on=joined_on,
        purchases_before=int(found.get(names.purchases, {}).get("count", 0)),
        rule_earned={
            rule: int(found.get(key, {}).get("points", 0)) for rule, key in names.rules.items()
        },
        member_id=member.id,
        segments=segments,
    )


async def record_facts(
    mongo: Mongo,
    session: AsyncClientSession,
    program: Program,
    member_id: str,
    purchase: Purchase,
    result: EarnResult,
) -> None:
    if not needed(program):
        return
    names = keys(program, member_id, purchase)
    writes = [UpdateOne({"_id": names.day}, {"$inc": {"points": result.total}}, upsert=True)]
    if result.birthday_bonus:
        writes.append(UpdateOne({"_id": names.birthday}, {"$set": {"given": True}}, upsert=True))
    if counts_purchases(program):
        writes.append(UpdateOne({"_id": names.purchases}, {"$inc": {"count": 1}}, upsert=True))
    for rule, points in sorted(result.rule_points.items()):
        if points > 0:
            key = names.rules[rule]
            writes.append(UpdateOne({"_id": key}, {"$inc": {"points": points}}, upsert=True))
    await mongo["earn_facts"].bulk_write(writes, ordered=True, session=session)
