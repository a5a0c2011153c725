"""The member's address book (up to 10 shipping addresses, app/rewards/addresses.py):
`me { addresses }`, saveAddress and deleteAddress."""

from __future__ import annotations

import strawberry

from app.rewards import (
    SavedAddress,
    check_address,
    delete_address,
    list_addresses,
    save_address,
)
from graphql_schema.context import Info
from graphql_schema.member.rewards import ShippingAddress, ShippingAddressInput
from graphql_schema.permissions import MemberMutation, caller_member_id
from graphql_schema.refusals import as_payload
from graphql_schema.user_errors import UserError


@strawberry.type(description="An address of the member's book.")
class SavedShippingAddress:
    id: strawberry.ID = strawberry.field(description="Give it as redeemReward's addressId.")
    address: ShippingAddress

    @classmethod
    def of(cls, saved: SavedAddress) -> SavedShippingAddress:
        address = ShippingAddress.from_model(saved.address)
        assert address is not None
        return cls(id=strawberry.ID(saved.id), address=address)


async def resolve_addresses(info: Info, member_id: str) -> list[SavedShippingAddress]:
    found = await list_addresses(info.context.runtime.mongo, member_id)
    return [SavedShippingAddress.of(saved) for saved in found]


@strawberry.input(description="A new address (no addressId), or a change of a saved one.")
class SaveAddressInput:
    address: ShippingAddressInput
    address_id: strawberry.ID | None = None


@strawberry.type
class SaveAddressPayload:
    saved: SavedShippingAddress | None
    user_errors: list[UserError]


@strawberry.input
class DeleteAddressInput:
    address_id: strawberry.ID


@strawberry.type
class DeleteAddressPayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


async def save_address_mutation(info: Info, input: SaveAddressInput) -> SaveAddressPayload:
    member_id = caller_member_id(info)
    runtime = info.context.runtime

    async def run() -> SaveAddressPayload:
        address = check_address(input.address.raw(), "address")
        saved = await save_address(
            runtime.mongo,
            runtime.clock,
            member_id,
            address,
            address_id=None if input.address_id is None else str(input.address_id),
        )
        return SaveAddressPayload(saved=SavedShippingAddress.of(saved), user_errors=[])

    return await as_payload(run, lambda e: SaveAddressPayload(saved=None, user_errors=e))


async def delete_address_mutation(info: Info, input: DeleteAddressInput) -> DeleteAddressPayload:
    member_id = caller_member_id(info)
    runtime = info.context.runtime

    async def run() -> DeleteAddressPayload:
        await delete_address(runtime.mongo, member_id, str(input.address_id))
        return DeleteAddressPayload(deleted_id=input.address_id, user_errors=[])

    return await as_payload(run, lambda e: DeleteAddressPayload(deleted_id=None, user_errors=e))


save_address_field = strawberry.mutation(
    resolver=save_address_mutation,
    permission_classes=[MemberMutation],
    description="Add an address to the member's book (at most 10: ADDRESS_BOOK_FULL), or change "
    "one (addressId); the same address saved again is answered, not added twice.",
)
delete_address_field = strawberry.mutation(
    resolver=delete_address_mutation,
    permission_classes=[MemberMutation],
    description="Remove an address from the member's book.",
)
