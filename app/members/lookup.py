"""Finding a member by member id, member number or phone: the one a partner names, or an operator."""

from __future__ import annotations

import contextlib

from app.db import Document, Mongo
from app.members.models import Member
from app.members.phones import InvalidPhone, normalise_phone
from app.members.service import MemberNotFound

REFERENCE_MAX = 64


class InvalidMemberReference(ValueError):
    """Not exactly one usable reference; `field` names the input at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def member_query(
    *, member_id: str | None = None, member_no: str | None = None, phone: str | None = None
) -> Document:
    """The one-field query for the reference given (a phone normalised to E.164)."""
    given = {
        name: value
        for name, value in (("_id", member_id), ("member_no", member_no), ("phone", phone))
        if value is not None
    }
    if len(given) != 1:
        raise InvalidMemberReference("name the member by exactly one of id, memberNo or phone")
    [(name, value)] = given.items()
    if not value or len(value) > REFERENCE_MAX:
        raise InvalidMemberReference(f"1 to {REFERENCE_MAX} characters", name)
    if name == "phone":
        try:
            value = normalise_phone(value)
        except InvalidPhone as exc:
            raise InvalidMemberReference(str(exc), "phone") from None
    return {name: value}


async def find_member(mongo: Mongo, query: Document) -> Member:
    """The member the query names (MemberNotFound), in one read."""
    document = await mongo["members"].find_one(query, {"password_hash": 0})
    if document is None:
        raise MemberNotFound(str(query))
    return Member.model_validate(document)


async def resolve_member_id(mongo: Mongo, reference: str) -> str | None:
    """The member an operator names by id, member number or phone, in that order of precedence.

    Ids, member numbers and phones are each unique, so at most one member matches each way; a
    reference that is one member's id and another's number names the first.
    """
    if not reference or len(reference) > REFERENCE_MAX:
        return None
    ways: list[Document] = [{"_id": reference}, {"member_no": reference}]
    with contextlib.suppress(InvalidPhone):
        ways.append({"phone": normalise_phone(reference)})
    found = await mongo["members"].find({"$or": ways}, {"member_no": 1, "phone": 1}).to_list(3)
    for way in ways:
        [(field, value)] = way.items()
        for document in found:
            if document.get(field) == value:
                return str(document["_id"])
    return None
