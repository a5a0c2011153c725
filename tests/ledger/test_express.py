"""The express earn (app.ledger.express) writes the account the book would write, or nothing.

Members are taken through random operations on the public API; before each earn, the earn is
also tried in a transaction of the test's own, aborted after: when the account's guard took it,
the account written in place must equal what the book's full rules make of the same account
(Book.credit, then account_document), and when the guard refused it, the account is unchanged.
"""

from __future__ import annotations

import random
from contextlib import suppress
from copy import deepcopy
from datetime import datetime, timedelta

import pytest
from bson import ObjectId

from app.clock import FrozenClock
from app.db import Document, Mongo
from app.ledger import express, hold, order, reverse, spend
from app.ledger.book import front as fronts
from app.ledger.errors import LedgerError
from app.ledger.expiry import Never, PeriodEnd, Rolling, expires_at
from app.ledger.models import EntryKind, EntryMeta, LotStatus
from app.ledger.state import LotState, Request, policy_stamp
from app.ledger.store import instant, open_book
from tests.ledger.conftest import assert_invariants, earn_points, key

POLICIES = [
    Rolling(days=1),
    Rolling(days=30),
    Rolling(days=365),
    Never(),
    PeriodEnd(period="month", n=1),
]


async def _compare(
    mongo: Mongo, member: str, points: int, policy, pending_days: int, now: datetime
) -> bool:  # type: ignore[no-untyped-def]
    """Try the express earn in an aborted transaction; check it against the book. Whether it fitted."""
    stamp = policy_stamp(policy, 1, "UTC")
    expiry = expires_at(policy, now, "UTC")
    available_at = now + timedelta(days=pending_days) if pending_days else None
    lot = LotState(
        id=ObjectId(),
        member_id=member,
        amount=points,
        remaining=points,
        status=LotStatus.PENDING if available_at else LotStatus.AVAILABLE,
        earned_at=now,
        available_at=available_at or now,
        expires_at=expiry,
        policy=stamp,
        source_entry_id=ObjectId(),
    )
    prefix = order.mass_of(order.lot_key(0, expiry, None))
    pending = available_at is not None
    credit = express.Credit(points, prefix, expiry, pending, lot.due_while_pending, now, now)
    async with mongo.client.start_session() as session:
        await session.start_transaction()
        try:
            fitted, before = await express.earn_or_read(mongo, session, member, credit, lot.id)
            after = await mongo["accounts"].find_one({"_id": member}, session=session)
        finally:
            await session.abort_transaction()
    assert after is not None
    if not fitted:
        if before is not None:
            assert after == before
        return False
    book = await open_book(mongo, None, member, deepcopy(before), now)
    request = Request("express-test", None, EntryMeta())
    book.credit(
        EntryKind.EARN,
        points,
        request,
        earned_at=now,
        available_at=available_at,
        expires_at=expiry,
        policy=stamp,
    )
    want: Document = {**book.account_document(), "seq": book.account.seq + 1}
    got = dict(after)
    for name in ("_id", "updated_at", "frozen", "closed"):
        got.pop(name, None)
    want.pop("updated_at")
    for entry in want["front"] + got["front"]:
        entry.pop("id")  # the book's new lot is a lot of its own
    assert got == want, (before, credit)
    return True


@pytest.mark.parametrize("front", [(fronts.FRONT_SIZE, fronts.FRONT_LOW), (3, 2)], ids=str)
async def test_the_express_earn_writes_the_account_the_book_would(
    mongo: Mongo, clock: FrozenClock, front: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fronts, "FRONT_SIZE", front[0])
    monkeypatch.setattr(fronts, "FRONT_LOW", front[1])
    rng = random.Random(22)
    members = ["ann", "bo", "cy"]
    fitted = refused = 0
    for _ in range(120):
        member = rng.choice(members)
        step = rng.random()
        now = instant(clock.now())
        if step < 0.6:
            points, policy = rng.randint(1, 80), rng.choice(POLICIES)
            pending = rng.choice([0, 0, 3])
            if await _compare(mongo, member, points, policy, pending, now):
                fitted += 1
            else:
                refused += 1
            available_at = now + timedelta(days=pending) if pending else None
            await earn_points(
                mongo, clock, member, points, policy=policy, available_at=available_at
            )
        elif step < 0.75:
            with suppress(LedgerError):
                points = rng.randint(1, 60)
                await spend(mongo, clock, member_id=member, points=points, idempotency_key=key())
        elif step < 0.82:
            with suppress(LedgerError):
                ttl = timedelta(hours=rng.choice([1, 30]))
                points = rng.randint(1, 30)
                await hold(
                    mongo, clock, member_id=member, points=points, ttl=ttl, idempotency_key=key()
                )
        elif step < 0.88:
            earned = await mongo["ledger"].find_one({"member_id": member, "kind": "earn"})
            if earned is not None:
                with suppress(LedgerError):
                    points = rng.randint(1, earned["points"])
                    entry_id = str(earned["_id"])
                    await reverse(
                        mongo, clock, entry_id=entry_id, points=points, idempotency_key=key()
                    )
        else:
            clock.advance(timedelta(hours=rng.choice([1, 12, 30, 80])))
    assert fitted > 20 and refused > 5, (fitted, refused)
    await assert_invariants(mongo)


async def test_a_member_with_many_lots_earns_in_place_past_the_front(
    mongo: Mongo, clock: FrozenClock
) -> None:
    for _ in range(40):
        await earn_points(mongo, clock, "m1", 10, policy=Rolling(days=400))
    account = await mongo["accounts"].find_one({"_id": "m1"})
    assert account is not None and account["front_end"] is not None
    now = instant(clock.now())
    assert await _compare(mongo, "m1", 10, Never(), 0, now)
    assert await _compare(mongo, "m1", 10, Rolling(days=500), 0, now)
    assert await _compare(mongo, "m1", 10, Rolling(days=500), 3, now)
    assert not await _compare(mongo, "m1", 10, Rolling(days=30), 0, now)  # would join the front
