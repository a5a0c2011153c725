"""Reversing an earn (a refund): its own lot first, then other available points, then debt.

Debt is recorded on the account (and the entry's debt_change), never as a negative lot; the
member's next credits pay it first.
"""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Mongo
from app.ledger.errors import EntryNotFound
from app.ledger.models import Entry, EntryKind, EntryMeta
from app.ledger.state import Request
from app.ledger.store import fingerprint, instant, load_book, refill, run_once, save_books


async def reverse(
    mongo: Mongo,
    clock: Clock,
    *,
    entry_id: str,
    idempotency_key: str,
    points: int | None = None,
    reason: str | None = None,
    actor: str | None = None,
    channel: str | None = None,
    reference: str | None = None,
) -> Entry:
    """Take back `points` of an EARN entry (by default all that is left to reverse)."""
    now = instant(clock.now())
    request = Request(
        idempotency_key,
        fingerprint("reverse", entry_id=entry_id, points=points),
        EntryMeta(actor=actor, channel=channel, reference=reference, description=reason),
    )
    try:
        earn_id = ObjectId(entry_id)
    except (InvalidId, TypeError):
        raise EntryNotFound(entry_id) from None

    async def work(session: AsyncClientSession) -> Entry:
        earned = await mongo["ledger"].find_one(
            {"_id": earn_id, "kind": EntryKind.EARN.value}, session=session
        )
        if earned is None:
            raise EntryNotFound(entry_id)
        lot_id = earned["lots"][0]["lot_id"]
        book = await load_book(mongo, session, earned["member_id"], now, lot_ids=[lot_id])
        lot = book.lots[lot_id]
        asked = lot.amount - lot.reversed if points is None else points
        if isinstance(asked, int) and 0 < asked <= lot.amount - lot.reversed:
            # What the refund may charge to the member's other points, beyond what it takes from
            # its own lot (which may sit in the front too): load the front lots covering that.
            charge = min(asked, lot.spent - lot.refunded_spent)
            if charge > 0:
                await refill(mongo, session, book, charge + lot.available)
        entry = book.reverse(lot, asked, request)
        await save_books(mongo, session, [book])
        return Entry.from_document(entry)

    return await run_once(mongo, idempotency_key, request.fingerprint, work, Entry.from_document)
