"""Opening balances: new members' books built in bulk from earns made elsewhere (an old system).

Each earn becomes an EARN entry and a lot exactly as `earn` would make it, with its original earn
date and its expiry under its policy, so the usual rules apply from the first operation on. The
books are built in memory by the ledger's own rules and written with one insert per collection,
whatever the number of members and earns: importing 100,000 members is a few big writes, not
300,000 transactions. Only for members without an account: it refuses one that exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.db import Document, Mongo
from app.ledger.book import Book
from app.ledger.earn import Policy, policy_stamp
from app.ledger.errors import InvalidRequest
from app.ledger.expiry import Never, expires_at
from app.ledger.models import Balance, EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import instant, number_entries


@dataclass(frozen=True)
class OpeningEarn:
    points: int
    earned_at: datetime
    policy: Policy = field(default_factory=Never)
    tz: str = "UTC"
    policy_version: int = 1
    reference: str | None = None
    description: str | None = None
    # An expiry the old system already decided (an import): used as is, stamped as a "fixed"
    # policy, which no rule renews or recomputes.
    fixed_expiry: datetime | None = None


def opening_book(
    member_id: str, earns: Sequence[OpeningEarn], now: datetime
) -> tuple[Document, list[Document], list[Document]]:
    """The account, lots and entries of a new member who earned `earns` (oldest first)."""
    book = Book(Balance(member_id), [], instant(now))
    for number, earned in enumerate(earns):
        at = instant(earned.earned_at)
        if at > instant(now):
            raise InvalidRequest(f"an opening earn of {member_id} lies in the future: {at}")
        book.now = at  # each earn was the member's activity when it happened
        book.credit(
            EntryKind.EARN,
            earned.points,
            Request(
                f"opening:{member_id}:{number}",  # not stored (below)
                "opening",
                EntryMeta(
                    actor="import", reference=earned.reference, description=earned.description
                ),
            ),
            earned_at=at,
            available_at=None,
            expires_at=_expiry(earned, at),
            policy=_stamp(earned),
        )
    book.now = instant(now)
    book.catch_up(book.now)  # what expired already is gone from the first day
    book.count_mass_beyond_front()
    for entry in book.entries:
        # Occurred when earned, recorded now: the rollup adds entries by when they were recorded,
        # and one dated before its watermark would never reach the reports.
        entry["recorded_at"] = book.now
        # No idempotency key: a member's opening books are written once, before the member (an
        # existing account refuses them), and a key would cost a unique index entry per entry.
        entry["idempotency_key"] = None
    account = {"_id": member_id, **book.account_document(), "seq": number_entries(book)}
    return account, [lot.to_document() for lot in book.lots.values()], book.entries


def _expiry(earned: OpeningEarn, at: datetime) -> datetime | None:
    if earned.fixed_expiry is not None:
        if instant(earned.fixed_expiry) <= at:
            raise InvalidRequest(f"an opening earn expires before it was earned: {at}")
        return instant(earned.fixed_expiry)
    return expires_at(earned.policy, at, earned.tz)


def _stamp(earned: OpeningEarn) -> Document:
    if earned.fixed_expiry is not None:
        return {"kind": "fixed", "params": {}, "version": earned.policy_version, "tz": earned.tz}
    return policy_stamp(earned.policy, earned.policy_version, earned.tz)


async def discard_unfinished(mongo: Mongo, member_ids: Sequence[str]) -> None:
    """Remove what an interrupted `open_books` wrote for these members (new members only: the
    caller knows their books were never finished, so nothing else can refer to them yet)."""
    if member_ids:
        for collection in ("ledger", "lots", "accounts"):
            key = "_id" if collection == "accounts" else "member_id"
            await mongo[collection].delete_many({key: {"$in": list(member_ids)}})


@dataclass
class OpeningBooks:
    """New members' books built in memory, ready to write: accounts, lots and entries."""

    accounts: list[Document] = field(default_factory=list)
    lots: list[Document] = field(default_factory=list)
    entries: list[Document] = field(default_factory=list)


def build_books(earns: Mapping[str, Sequence[OpeningEarn]], now: datetime) -> OpeningBooks:
    """The opening books of new members, by the ledger's own rules, without touching the database
    (an import builds the next chunk's while the database writes this one's)."""
    books = OpeningBooks()
    for member_id, member_earns in earns.items():
        account, member_lots, member_entries = opening_book(member_id, member_earns, now)
        books.accounts.append(account)
        books.lots += member_lots
        books.entries += member_entries
    return books


async def write_books(mongo: Mongo, books: OpeningBooks) -> None:
    """Three inserts in all (a duplicate key refuses the lot)."""
    if books.accounts:
        await mongo["accounts"].insert_many(books.accounts)
    if books.lots:
        await mongo["lots"].insert_many(books.lots)
    if books.entries:
        await mongo["ledger"].insert_many(books.entries)


async def open_books(
    mongo: Mongo, earns: Mapping[str, Sequence[OpeningEarn]], now: datetime
) -> None:
    """Write the opening books of new members."""
    await write_books(mongo, build_books(earns, now))
