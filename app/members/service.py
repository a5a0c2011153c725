"""Creating and reading members."""

from __future__ import annotations

import re
import secrets
from datetime import date

from pymongo.asynchronous.client_session import AsyncClientSession

from app.bounds import has_control, trim_invisible
from app.clock import Clock
from app.db import Mongo, upsert_and_get
from app.event_log import append
from app.ledger import instant
from app.members.models import Member


class MemberNotFound(Exception):
    pass


class MemberSuspended(Exception):
    """A suspended (or erased) member: their account neither earns nor spends. `field` names the
    request value that named the member (snake_case), when the member is not the caller or the
    service knows better (a partner's hold)."""

    def __init__(self, message: str, field: tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidProfile(ValueError):
    """A profile field breaks its rule; `field` names it (name, email, birthday)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


NAME_MAX_LENGTH = 64
EMAIL_MAX_LENGTH = 254
OLDEST_BIRTHDAY = date(1900, 1, 1)
# Deliberately plain: one @, a dot in the domain, no spaces. Real proof is a confirmation mail.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def check_text(text: str, field: str) -> str:
    """Refuse control characters and lone surrogates: a surrogate cannot be stored (UTF-8 cannot
    encode it) and a control character (NUL, ESC) breaks the terminals, files and screens that
    show the text."""
    if has_control(text):
        raise InvalidProfile(field, f"the {field} holds a control character or a lone surrogate")
    return text


def check_name(name: str) -> str:
    """A name as people see it: tabs and line breaks are spaces, runs of spaces one, and nothing
    invisible at either end (a zero-width space, a direction mark); one with no visible character
    is empty. A joiner inside stays: it holds emoji and some scripts together."""
    cleaned = trim_invisible(check_text(" ".join(name.split()), "name"))
    if not cleaned:
        raise InvalidProfile("name", "the name must not be empty")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidProfile("name", f"the name must have at most {NAME_MAX_LENGTH} characters")
    return cleaned


def check_email(email: str) -> str:
    cleaned = check_text(email.strip(), "email")
    if len(cleaned) > EMAIL_MAX_LENGTH or not _EMAIL.match(cleaned):
        raise InvalidProfile("email", "not an email address")
    local, _, domain = cleaned.partition("@")
    return f"{local}@{domain.lower()}"


def check_birthday(birthday: date, today: date) -> date:
    if birthday > today:
        raise InvalidProfile("birthday", "the birthday is in the future")
    if birthday < OLDEST_BIRTHDAY:
        raise InvalidProfile("birthday", f"the birthday is before {OLDEST_BIRTHDAY.isoformat()}")
    return birthday


async def next_member_no(mongo: Mongo, session: AsyncClientSession | None = None) -> str:
    counter = await upsert_and_get(
        mongo["counters"], {"_id": "member_no"}, {"$inc": {"value": 1}}, session=session
    )
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
    now = clock.now()
    member = Member(
        id=new_member_id(),
        member_no=await next_member_no(mongo, session),
        name=name,
        phone=phone,
        email=email,
        birthday=birthday,
        tier=tier,
        # Cut to the millisecond MongoDB keeps, so the member returned equals the member read back.
        joined_at=instant(now),
    )
    document = member.model_dump(by_alias=True, mode="python")
    if birthday is not None:
        document["birthday"] = birthday.isoformat()
    if password_hash is not None:
        document["password_hash"] = password_hash
    event = {"member_no": member.member_no, "tier": tier}

    async def write(within: AsyncClientSession) -> None:
        await mongo["members"].insert_one(document, session=within)
        await append(
            mongo,
            within,
            "member.created",
            member.id,
            event,
            key=f"member.created:{member.id}",
            occurred_at=member.joined_at,
        )

    if session is not None:  # the caller's transaction (an operator's createMember)
        await write(session)
    else:  # a sign-up: the member and its event, all or nothing
        await mongo.transaction(write)
    return member


async def get_member(mongo: Mongo, member_id: str) -> Member:
    document = await mongo["members"].find_one({"_id": member_id}, {"password_hash": 0})
    if document is None:
        raise MemberNotFound(member_id)
    return Member.model_validate(document)


async def update_profile(
    mongo: Mongo,
    clock: Clock,
    member_id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    birthday: date | None = None,
    clear_email: bool = False,
    clear_birthday: bool = False,
) -> Member:
    """Change the given fields after checking each; raises InvalidProfile and stores nothing then."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = check_name(name)
    if email is not None:
        changes["email"] = check_email(email)
    elif clear_email:
        changes["email"] = None
    if birthday is not None:
        changes["birthday"] = check_birthday(birthday, clock.now().date()).isoformat()
    elif clear_birthday:
        changes["birthday"] = None
    if changes:
        result = await mongo["members"].update_one({"_id": member_id}, {"$set": changes})
        if result.matched_count == 0:
            raise MemberNotFound(member_id)
    return await get_member(mongo, member_id)
