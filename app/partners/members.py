"""Finding the member a partner names: by member id, member number or phone (exactly one)."""

from __future__ import annotations

from dataclasses import dataclass

from app.db import Mongo
from app.members import InvalidPhone, Member, MemberStatus, MemberSuspended, normalise_phone
from app.partners.errors import InvalidPartnerInput, MemberNotFound

REFERENCE_MAX = 64


@dataclass(frozen=True, slots=True)
class MemberRef:
    id: str | None = None
    member_no: str | None = None
    phone: str | None = None

    def query(self) -> dict[str, str]:
        given = [(k, v) for k, v in (("_id", self.id), ("member_no", self.member_no)) if v]
        if self.phone is not None:
            if len(self.phone) > REFERENCE_MAX:
                raise InvalidPartnerInput("not a phone number", ("member", "phone"))
            try:
                given.append(("phone", normalise_phone(self.phone)))
            except InvalidPhone as exc:
                raise InvalidPartnerInput(str(exc), ("member", "phone")) from None
        named = sum(v is not None for v in (self.id, self.member_no, self.phone))
        if named != 1 or len(given) != 1 or len(given[0][1]) > REFERENCE_MAX:
            raise InvalidPartnerInput(
                "name the member by exactly one of id, memberNo or phone", ("member",)
            )
        return dict(given)


async def find_member(mongo: Mongo, ref: MemberRef, *, active: bool = True) -> Member:
    """The member (one read); MemberNotFound, or MemberSuspended when `active` and not active."""
    document = await mongo["members"].find_one(ref.query(), {"password_hash": 0})
    if document is None:
        raise MemberNotFound("no such member")
    member = Member.model_validate(document)
    if active:
        check_active(member)
    return member


def check_active(member: Member) -> None:
    if member.status is not MemberStatus.ACTIVE:
        raise MemberSuspended(f"the member is {member.status.value}: no points move")
