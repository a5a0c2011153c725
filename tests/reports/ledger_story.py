"""A ledger built by the ledger's own operations over five months, and an independent reading of
it: the tests compare the reports with sums taken here from the raw `ledger` and `program`
documents, without app.reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import adjust, clear, earn, expire_due, hold, mature_due, reverse, spend
from app.program.expiry import Rolling
from app.program.service import save_program
from tests.api.gql import PROGRAM

SHANGHAI = ZoneInfo("Asia/Shanghai")
VALUES = {  # point value from a date (09:00 UTC): three program versions
    date(2026, 1, 2): Decimal("0.01"),
    date(2026, 3, 1): Decimal("0.015"),
    date(2026, 5, 10): Decimal("0.0125"),
}


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def build_story(mongo: Mongo, clock: FrozenClock, *, until: date = date(2026, 5, 20)) -> None:
    """Earns, spends, expiries, refunds with debt, matured debt payment, adjustments, 清零, a
    hold, a late posting; at least one of each on several dates, up to `until`."""
    steps = sorted(_steps(), key=lambda step: step[0])
    for when, action in steps:
        if when.date() > until:
            break
        clock.set(when)
        await action(mongo, clock)


def _steps() -> list[tuple[datetime, object]]:
    def program(value: Decimal):  # type: ignore[no-untyped-def]
        async def apply(mongo: Mongo, clock: FrozenClock) -> None:
            await save_program(mongo, clock, PROGRAM.model_copy(update={"point_value": value}))

        return apply

    def op(function, **kwargs):  # type: ignore[no-untyped-def]
        async def run(mongo: Mongo, clock: FrozenClock) -> None:
            await function(mongo, clock, **kwargs)

        return run

    async def refund_b(mongo: Mongo, clock: FrozenClock) -> None:
        first = await mongo["ledger"].find_one({"idempotency_key": "b-earn"})
        assert first is not None
        await reverse(mongo, clock, entry_id=str(first["_id"]), idempotency_key="b-refund")

    async def refund_d(mongo: Mongo, clock: FrozenClock) -> None:
        first = await mongo["ledger"].find_one({"idempotency_key": "d-earn"})
        assert first is not None
        await reverse(mongo, clock, entry_id=str(first["_id"]), idempotency_key="d-refund")

    who = {"actor": "admin:ops"}
    steps: list[tuple[datetime, object]] = [
        (at(day), program(value)) for day, value in VALUES.items()
    ]
    steps += [
        (at(date(2026, 1, 5)), op(earn, member_id="a", points=1000, idempotency_key="a-1",
                                  policy=Rolling(days=30))),
        (at(date(2026, 1, 8)), op(earn, member_id="b", points=2000, idempotency_key="b-earn",
                                  available_at=at(date(2026, 1, 15)))),
        # 18:45 UTC: 00:15 the next day in Kolkata, in an hour that began the day before
        (at(date(2026, 1, 10), 18) + timedelta(minutes=45),
         op(earn, member_id="a", points=500, idempotency_key="a-2")),
        (at(date(2026, 1, 20)), op(spend, member_id="a", points=300, idempotency_key="a-s")),
        (at(date(2026, 1, 21)), op(spend, member_id="b", points=1500, idempotency_key="b-s")),
        (at(date(2026, 2, 10)), op(expire_due)),
        (at(date(2026, 2, 15)), refund_b),
        (at(date(2026, 3, 5)), op(earn, member_id="b", points=1000, idempotency_key="b-2")),
        (at(date(2026, 3, 10)), op(adjust, member_id="c", points=300, reason="goodwill",
                                   idempotency_key="c-1", **who)),
        (at(date(2026, 3, 12)), op(adjust, member_id="c", points=-100, reason="correction",
                                   idempotency_key="c-2", **who)),
        (at(date(2026, 3, 31), 15), op(earn, member_id="d", points=100, idempotency_key="d-earn")),
        (at(date(2026, 3, 31), 17), op(spend, member_id="d", points=100, idempotency_key="d-s")),
        (at(date(2026, 4, 1)), op(clear, member_id="c", reason="清零", idempotency_key="c-3", **who)),
        (at(date(2026, 4, 5)), op(earn, member_id="d", points=400, idempotency_key="d-2",
                                  available_at=at(date(2026, 4, 12)))),
        (at(date(2026, 4, 6)), refund_d),
        (at(date(2026, 4, 13)), op(mature_due)),
        (at(date(2026, 5, 3)), op(hold, member_id="a", points=200, ttl=timedelta(days=30),
                                  idempotency_key="a-h")),
        # posted on 18 May, earned on 3 March: the ledger dates it 3 March
        (at(date(2026, 5, 18)), op(earn, member_id="e", points=700, idempotency_key="e-late",
                                   earned_at=at(date(2026, 3, 3), 2))),
    ]  # fmt: skip
    return steps


async def recount(mongo: Mongo, until: datetime) -> tuple[int, int, Decimal]:
    """(points held, debt, money) counting the raw entries that occurred before `until`, at the
    value of the raw program version made last before it."""
    points = debt = 0
    async for entry in mongo["ledger"].find({}):
        if entry["occurred_at"] < until:
            points += entry["points"] + entry.get("debt_change", 0)
            debt += entry.get("debt_change", 0)
    versions = [
        doc
        async for doc in mongo["program"].find({})
        if doc["_id"] == "current" or str(doc["_id"]).startswith("v")
    ]
    in_force = max((v for v in versions if v["updated_at"] < until), key=lambda v: v["updated_at"])
    money = (Decimal(in_force["point_value"]) * points).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    return points, debt, money


def end_of(day: date) -> datetime:
    """The local midnight after `day` in Shanghai, as UTC."""
    following = day + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=SHANGHAI).astimezone(UTC)
