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
from app.ledger.models import EntryKind, EntryMeta
from app.ledger.state import AccountState, Request
from app.ledger.store import instant, number_entries
from app.program.expiry import Never, expires_at


@dataclass(frozen=True)
class OpeningEarn:
    points: int
    earned_at: datetime
    policy: Policy = field(default_factory=Never)
    tz: str = "UTC"
    policy_version: int = 1
    reference: str | None = None
    description: str | None = None


def opening_book(
    member_id: str, earns: Sequence[OpeningEarn], now: datetime, key_prefix: str
) -> tuple[Document, list[Document], list[Document]]:
    """The account, lots and entries of a new member who earned `earns` (oldest first)."""
    book = Book(AccountState(member_id), [], instant(now))
    for number, earned in enumerate(earns):
        at = instant(earned.earned_at)
        if at > instant(now):
            raise InvalidRequest(f"an opening earn of {member_id} lies in the future: {at}")
        book.now = at  # each earn was the member's activity when it happened
        book.credit(
            EntryKind.EARN,
            earned.points,
            Request(
                f"{key_prefix}:{member_id}:{number}",
                "opening",
                EntryMeta(
                    actor="import", reference=earned.reference, description=earned.description
                ),
            ),
            earned_at=at,
            available_at=None,
            expires_at=expires_at(earned.policy, at, earned.tz),
            policy=policy_stamp(earned.policy, earned.policy_version, earned.tz),
        )
    book.now = instant(now)
    book.catch_up(book.now)  # what expired already is gone from the first day
    book.count_mass_beyond_front()
    account = {"_id": member_id, **book.account_document(), "seq": number_entries(book)}
    return account, [lot.to_document() for lot in book.lots.values()], book.entries


async def open_books(
    mongo: Mongo,
    earns: Mapping[str, Sequence[OpeningEarn]],
    now: datetime,
    *,
    key_prefix: str = "opening",
) -> None:
    """Write the opening books of new members: three inserts in all (a duplicate key refuses the lot)."""
    accounts: list[Document] = []
    lots: list[Document] = []
    entries: list[Document] = []
    for member_id, member_earns in earns.items():
        account, member_lots, member_entries = opening_book(
            member_id, member_earns, now, key_prefix
        )
        accounts.append(account)
        lots += member_lots
        entries += member_entries
    if accounts:
        await mongo["accounts"].insert_many(accounts)
    if lots:
        await mongo["lots"].insert_many(lots)
    if entries:
        await mongo["ledger"].insert_many(entries)
