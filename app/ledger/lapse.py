"""Holds whose TTL has passed are released on arrival: by every read of a balance (in memory) and
by every operation that loads a member's book (in its own transaction), whether or not the
release job (app.ledger.holds.release_expired_holds) has run yet.

The account keeps `hold_due`: no later than the soonest TTL of the member's active holds (None
when nothing is held). Only when it has passed are the member's active holds read (one command,
and one more for the lots of the lapsed ones); the book then releases the lapsed holds exactly as
the job does (status EXPIRED, the held portion of a lot that expired meanwhile expiring under
its own key), and `hold_due` becomes the soonest TTL of the holds left. The hold's and the
account's writes make a race with the job or a capture a write conflict, retried, so a hold is
released or captured once.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Mongo
from app.ledger.book import Book
from app.ledger.models import HoldStatus
from app.ledger.state import HoldState, LotState


def lapse_due(book: Book, now: datetime) -> bool:
    """Whether the account says one of its holds may have lapsed by `now`."""
    due = book.account.hold_due
    return due is not None and due <= now


async def release_lapsed(
    mongo: Mongo, session: AsyncClientSession | None, book: Book, now: datetime
) -> None:
    """Release the member's holds whose TTL ended at or before `now` into the book (saved with
    it by a write; a read only counts them): nothing read unless the account says one is due."""
    if not lapse_due(book, now):
        return
    query = {"member_id": book.account.member_id, "status": HoldStatus.ACTIVE.value}
    found = mongo["holds"].find(query, session=session)
    active = [HoldState.from_document(doc) async for doc in found]
    active = [h for h in active if h.id not in book.holds]
    lapsed = [h for h in active if h.expires_at <= now]
    missing = [lot_id for h in lapsed for lot_id, _ in h.lots if lot_id not in book.lots]
    if missing:
        lots = mongo["lots"].find({"_id": {"$in": missing}}, session=session)
        book.add([LotState.from_document(doc) async for doc in lots])
        book.catch_up(now)  # as the job's load_books: a lot past its expiry expires first
    for state in lapsed:
        book.holds[state.id] = state
        book.release(state, HoldStatus.EXPIRED)
    book.account.hold_due = min((h.expires_at for h in active if h.expires_at > now), default=None)
