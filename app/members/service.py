"""Creating and reading members."""

from __future__ import annotations

import secrets
from datetime import date

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Mongo
from app.members.models import Member


class MemberNotFound(Exception):
    pass


async def next_member_no(mongo: Mongo, session: AsyncClientSession | None = None) -> str:
    counter = await mongo["counters"].find_one_and_update(
        {"_id": "member_no"},
        {"$inc": {"value": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    assert counter is not None
    return f"JF{int(counter['value']):09d}"


def new_member_id() -> str:
    return "m_" + secrets.token_hex(10)


async def create_member(
    mongo: Mongo,
    clock: Clock,
    *,
    name: str,
    tier: str,
    phone: str | None = None,
    email: str | None = None,
    birthday: date | None = None,
    password_hash: str | None = None,
    session: AsyncClientSession | None = None,
) -> Member:
    """Insert a member; the caller decides the tier (the program's entry tier for sign-ups)."""
    member = Member(
        id=new_member_id(),
        member_no=await next_member_no(mongo, session),
        name=name,
        phone=phone,
        email=email,
        birthday=birthday,
        tier=tier,
        joined_at=clock.now(),
    )
    document = member.model_dump(by_alias=True, mode="python")
    if birthday is not None:
        document["birthday"] = birthday.isoformat()
    if password_hash is not None:
        document["password_hash"] = password_hash
    await mongo["members"].insert_one(document, session=session)
    return member


async def get_member(mongo: Mongo, member_id: str) -> Member:
    document = await mongo["members"].find_one({"_id": member_id}, {"password_hash": 0})
    if document is None:
        raise MemberNotFound(member_id)
    return Member.model_validate(document)
