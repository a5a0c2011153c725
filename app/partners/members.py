"""Finding the member a partner names: by member id, member number or phone (exactly one).

`partner_and_member` reads the member with the calling partner's registry entry in one command
(an aggregate on `members` with a `$unionWith` of `partners`): a purchase checks that its partner
is still registered and active on the very document the registry holds now, as every partner
request does, without a command of its own for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.db import Document, Mongo
from app.members import InvalidPhone, Member, MemberStatus, MemberSuspended, normalise_phone
from app.partners.errors import InvalidPartnerInput, MemberNotFound, PartnerRefused
from app.partners.registry import Partner, get_partner, registry_id

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


async def partner_and_member(
    mongo: Mongo, partner_id: str, ref: MemberRef
) -> tuple[Partner | None, Member | PartnerRefused]:
    """The partner's registry entry (None if unknown) and the member `ref` names, in one command.

    The member is the refusal instead (a reference that breaks its rule, MemberNotFound) when there
    is none, for the caller to raise once it has checked the partner: a suspended partner's
    request is refused as such whatever member it names."""
    try:
        query = ref.query()
    except InvalidPartnerInput as exc:
        return await get_partner(mongo, partner_id), exc
    pipeline: list[Document] = [
        {"$match": query},
        {"$limit": 1},
        {"$project": {"password_hash": 0}},
    ]
    if registry_id(partner_id):
        registry = [{"$match": {"_id": partner_id}}, {"$replaceWith": {_REGISTRY: "$$ROOT"}}]
        pipeline.append({"$unionWith": {"coll": "partners", "pipeline": registry}})
    partner: Partner | None = None
    member: Member | PartnerRefused = MemberNotFound("no such member")
    async for document in await mongo["members"].aggregate(pipeline):
        if _REGISTRY in document:
            partner = Partner.from_document(document[_REGISTRY])
        else:
            member = Member.model_validate(document)
    return partner, member


_REGISTRY = "_registry"  # the key the partner's entry comes under (no member field has it)


def check_active(member: Member) -> None:
    if member.status is not MemberStatus.ACTIVE:
        raise MemberSuspended(f"the member is {member.status.value}: no points move")
