"""The member's address book: up to MAX_ADDRESSES shipping addresses to redeem goods that ship.

One document per member in `address_books` ({_id: member id, addresses: [...]}), so every change
is one conditional single-document write: adding pushes only while fewer than MAX_ADDRESSES are
there (two concurrent adds to a book with nine make ten, never eleven), without a transaction.
Saving an address the book holds already (the same fields) answers that one: a retried save adds
nothing. Erasing the member drops the book (app/rewards/forget.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo
from app.rewards.errors import AddressBookFull, AddressMissing
from app.rewards.models import ShippingAddress

BOOKS = "address_books"
MAX_ADDRESSES = 10


@dataclass(frozen=True)
class SavedAddress:
    id: str
    address: ShippingAddress


def _saved(document: Document) -> SavedAddress:
    fields = {k: v for k, v in document.items() if k not in ("id", "saved_at")}
    return SavedAddress(document["id"], ShippingAddress.model_validate(fields))


async def list_addresses(mongo: Mongo, member_id: str) -> list[SavedAddress]:
    book = await mongo[BOOKS].find_one({"_id": member_id})
    return [_saved(one) for one in (book or {}).get("addresses", [])]


async def get_address(mongo: Mongo, member_id: str, address_id: str) -> ShippingAddress:
    for saved in await list_addresses(mongo, member_id):
        if saved.id == address_id:
            return saved.address
    raise AddressMissing("no such address in the member's book", ("address_id",))


async def save_address(
    mongo: Mongo,
    clock: Clock,
    member_id: str,
    address: ShippingAddress,
    *,
    address_id: str | None = None,
) -> SavedAddress:
    """Add `address` to the book (AddressBookFull at MAX_ADDRESSES), or replace the one
    `address_id` names (AddressMissing when the book has none by that id)."""
    fields = address.model_dump()
    now = clock.now()
    if address_id is not None:
        updated = await mongo[BOOKS].find_one_and_update(
            {"_id": member_id, "addresses.id": address_id},
            {"$set": {"addresses.$[saved]": {"id": address_id, **fields, "saved_at": now}}},
            array_filters=[{"saved.id": address_id}],
        )
        if updated is None:
            raise AddressMissing("no such address in the member's book", ("address_id",))
        return SavedAddress(address_id, address)
    for saved in await list_addresses(mongo, member_id):
        if saved.address == address:
            return saved  # the same address again: a retried save
    new = {"id": "ad_" + secrets.token_hex(8), **fields, "saved_at": now}
    room = {f"addresses.{MAX_ADDRESSES - 1}": {"$exists": False}}
    try:
        await mongo[BOOKS].update_one(
            {"_id": member_id, **room}, {"$push": {"addresses": new}}, upsert=True
        )
    except DuplicateKeyError:  # the upsert met the full book under its _id: no room
        raise AddressBookFull(
            f"an address book holds at most {MAX_ADDRESSES} addresses", ("address",)
        ) from None
    return SavedAddress(new["id"], address)


async def delete_address(mongo: Mongo, member_id: str, address_id: str) -> None:
    """Drop one address (AddressMissing when the book has none by that id)."""
    pulled = await mongo[BOOKS].update_one(
        {"_id": member_id, "addresses.id": address_id},
        {"$pull": {"addresses": {"id": address_id}}},
    )
    if pulled.modified_count == 0:
        raise AddressMissing("no such address in the member's book", ("address_id",))
