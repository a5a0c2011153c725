"""Bringing books written by an earlier version to the current shape, once, at start-up.

Version 2 of the ledger's documents gives each lot its number (`seq`) and place in the spending
order (`order`), each entry its number among the member's entries (`seq`), and each account its
counters' summary: the front, the soonest dated expiry, the inactivity policies and when pending
points are due. A database written before has none of these; `upgrade_books` adds them member by
member, each in one transaction, rebuilt from the lots and entries by the ledger's own rules, and
then marks the database upgraded so later starts cost one read.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger.book import Book
from app.ledger.models import Balance
from app.ledger.state import LIVE, LotState
from app.ledger.store import run

log = logging.getLogger(__name__)

SHAPE = 2
MARKER = "ledger_shape"


async def upgrade_books(mongo: Mongo, now: datetime) -> int:
    """Upgrade every account of an older shape; returns how many were upgraded."""
    marker = await mongo["meta"].find_one({"_id": MARKER})
    if marker is not None and marker.get("version", 0) >= SHAPE:
        return 0
    upgraded = 0
    members = [doc["_id"] async for doc in mongo["accounts"].find({"front": {"$exists": False}})]
    for member_id in members:

        async def work(session: AsyncClientSession, member_id: str = member_id) -> None:
            await _upgrade(mongo, session, member_id, now)

        await run(mongo, work)
        upgraded += 1
    if upgraded:
        log.info("upgraded %d ledger accounts to shape %d", upgraded, SHAPE)
    await mongo["meta"].update_one({"_id": MARKER}, {"$set": {"version": SHAPE}}, upsert=True)
    return upgraded


async def _upgrade(
    mongo: Mongo, session: AsyncClientSession, member_id: str, now: datetime
) -> None:
    account = await mongo["accounts"].find_one({"_id": member_id}, session=session)
    if account is None or "front" in account:
        return
    lots = [
        LotState.from_document(doc)
        async for doc in mongo["lots"].find({"member_id": member_id}, session=session)
    ]
    lots.sort(key=lambda lot: (lot.earned_at, lot.id))
    # Keep what the lots cannot tell (debt, lifetime counters, version); count the rest anew.
    state = replace(
        Balance.from_document(account),
        available=0,
        pending=0,
        held=0,
        seq=0,
        lots_issued=len(lots),
    )
    book = Book(state, [], now)
    for seq, lot in enumerate(lots, start=1):
        lot.seq = seq
        lot.rekey()
        if lot.status in LIVE:
            book.adopt_existing(lot)
    book.count_mass_beyond_front()
    entries = [
        doc["_id"]
        async for doc in mongo["ledger"]
        .find({"member_id": member_id}, {"_id": 1}, session=session)
        .sort([("recorded_at", 1), ("_id", 1)])
    ]
    document: Document = {**book.account_document(), "seq": len(entries)}
    await mongo["accounts"].update_one(
        {"_id": member_id, "version": state.version}, {"$set": document}, session=session
    )
    if lots:
        await mongo["lots"].bulk_write(
            [
                UpdateOne(
                    {"_id": lot.id},
                    {"$set": {"seq": lot.seq, "order": lot.order, "expires_at": lot.expires_at}},
                )
                for lot in lots
            ],
            session=session,
        )
    if entries:
        await mongo["ledger"].bulk_write(
            [UpdateOne({"_id": entry}, {"$set": {"seq": n}}) for n, entry in enumerate(entries, 1)],
            session=session,
        )
