"""What the rules engine needs to know of a member's earlier purchases: points earned from
purchases on a local day (for the daily cap) and whether this year's birthday bonus was given.

Kept in `earn_facts`, one small document per member and day (`<member>:day:<date>`) and per member
and year (`<member>:birthday:<year>`), read with one command and written with one, and only when
the program has a daily cap or a birthday bonus (otherwise neither is read nor written). The
member's account document is written by the same purchase, so two purchases of one member
serialise there and these counters never race.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Mongo
from app.members import Member
from app.program import EarnResult, MemberFacts, Program, Purchase


@dataclass(frozen=True, slots=True)
class FactKeys:
    day: str
    birthday: str


def keys(program: Program, member_id: str, purchase: Purchase) -> FactKeys:
    local = program.local_date(purchase.occurred_at)
    return FactKeys(f"{member_id}:day:{local.isoformat()}", f"{member_id}:birthday:{local.year}")


def needed(program: Program) -> bool:
    return program.earn.caps.per_member_per_day is not None or program.earn.birthday is not None


async def member_facts(
    mongo: Mongo,
    session: AsyncClientSession | None,
    program: Program,
    member: Member,
    purchase: Purchase,
) -> MemberFacts:
    if not needed(program):
        return MemberFacts(tier=member.tier, birthday=member.birthday)
    names = keys(program, member.id, purchase)
    found = {
        doc["_id"]: doc
        async for doc in mongo["earn_facts"].find(
            {"_id": {"$in": [names.day, names.birthday]}}, session=session
        )
    }
    return MemberFacts(
        tier=member.tier,
        birthday=member.birthday,
        earned_today=int(found.get(names.day, {}).get("points", 0)),
        birthday_bonus_taken=names.birthday in found,
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
    await mongo["earn_facts"].bulk_write(writes, ordered=True, session=session)
