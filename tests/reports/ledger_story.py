"""A ledger built by the ledger's own operations over five months, and an independent reading of
it: the tests compare the reports with sums taken here from the raw `ledger`, `lots`, `holds` and
`program` documents, without app.reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import (
    Rolling,
    adjust,
    capture,
    clear,
    earn,
    expire_due,
    extend,
    hold,
    mature_due,
    release,
    release_expired_holds,
    reverse,
    spend,
)
from app.program import save_program
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
    """Earns, spends, expiries, refunds with debt, matured debt payment, adjustments, 清零, holds
    (open, released, captured in part, lapsed), late postings; pending points refunded, cleared,
    expired and paying a debt at once, their windows closing inside hours; at least one of each
    on several dates, up to `until`."""
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

    def refund(key: str, points: int | None = None):  # type: ignore[no-untyped-def]
        async def run(mongo: Mongo, clock: FrozenClock) -> None:
            first = await mongo["ledger"].find_one({"idempotency_key": key})
            assert first is not None
            await reverse(
                mongo,
                clock,
                entry_id=str(first["_id"]),
                points=points,
                idempotency_key=f"{key}-refund",
            )

        return run

    def end_hold(key: str, points: int | None = None):  # type: ignore[no-untyped-def]
        """Capture `points` of the hold made under `key`, or release it (None)."""

        async def run(mongo: Mongo, clock: FrozenClock) -> None:
            made = await mongo["holds"].find_one({"idempotency_key": key})
            assert made is not None
            if points is None:
                await release(mongo, clock, hold_id=str(made["_id"]))
            else:
                await capture(
                    mongo,
                    clock,
                    hold_id=str(made["_id"]),
                    points=points,
                    idempotency_key=f"{key}-capture",
                )

        return run

    def minute(day: date, hour: int, minutes: int) -> datetime:
        return at(day, hour) + timedelta(minutes=minutes)

    who = {"actor": "admin:ops"}
    steps: list[tuple[datetime, object]] = [
        (at(day), program(value)) for day, value in VALUES.items()
    ]
    steps += [
        (
            at(date(2026, 1, 5)),
            op(earn, member_id="a", points=1000, idempotency_key="a-1", policy=Rolling(days=30)),
        ),
        (
            at(date(2026, 1, 8)),
            op(
                earn,
                member_id="b",
                points=2000,
                idempotency_key="b-earn",
                available_at=at(date(2026, 1, 15)),
            ),
        ),
        # 18:45 UTC: 00:15 the next day in Kolkata, in an hour that began the day before
        (
            at(date(2026, 1, 10), 18) + timedelta(minutes=45),
            op(earn, member_id="a", points=500, idempotency_key="a-2"),
        ),
        (at(date(2026, 1, 20)), op(spend, member_id="a", points=300, idempotency_key="a-s")),
        (at(date(2026, 1, 21)), op(spend, member_id="b", points=1500, idempotency_key="b-s")),
        (at(date(2026, 2, 10)), op(expire_due)),
        (at(date(2026, 2, 15)), refund_b),
        (at(date(2026, 3, 5)), op(earn, member_id="b", points=1000, idempotency_key="b-2")),
        (
            at(date(2026, 3, 10)),
            op(adjust, member_id="c", points=300, reason="goodwill", idempotency_key="c-1", **who),
        ),
        (
            at(date(2026, 3, 12)),
            op(
                adjust,
                member_id="c",
                points=-100,
                reason="correction",
                idempotency_key="c-2",
                **who,
            ),
        ),
        (at(date(2026, 3, 31), 15), op(earn, member_id="d", points=100, idempotency_key="d-earn")),
        (at(date(2026, 3, 31), 17), op(spend, member_id="d", points=100, idempotency_key="d-s")),
        (
            at(date(2026, 4, 1)),
            op(clear, member_id="c", reason="清零", idempotency_key="c-3", **who),
        ),
        (
            at(date(2026, 4, 5)),
            op(
                earn,
                member_id="d",
                points=400,
                idempotency_key="d-2",
                available_at=at(date(2026, 4, 12)),
            ),
        ),
        (at(date(2026, 4, 6)), refund_d),
        (at(date(2026, 4, 13)), op(mature_due)),
        (
            at(date(2026, 5, 3)),
            op(hold, member_id="a", points=200, ttl=timedelta(days=30), idempotency_key="a-h"),
        ),
        # posted on 18 May, earned on 3 March: the ledger dates it 3 March
        (
            at(date(2026, 5, 18)),
            op(
                earn,
                member_id="e",
                points=700,
                idempotency_key="e-late",
                earned_at=at(date(2026, 3, 3), 2),
            ),
        ),
    ]
    # Holds opened and closed inside hours: released, captured in part, lapsed (the job).
    steps += [
        (
            minute(date(2026, 2, 1), 11, 11),
            op(hold, member_id="a", points=50, ttl=timedelta(days=1), idempotency_key="a-h1"),
        ),
        (minute(date(2026, 2, 1), 15, 40), end_hold("a-h1")),
        (
            minute(date(2026, 3, 11), 10, 20),
            op(hold, member_id="c", points=100, ttl=timedelta(hours=1), idempotency_key="c-h"),
        ),
        (minute(date(2026, 3, 11), 10, 50), end_hold("c-h", 60)),
        (
            minute(date(2026, 3, 20), 9, 30),
            op(hold, member_id="a", points=30, ttl=timedelta(hours=1), idempotency_key="a-h2"),
        ),
        (minute(date(2026, 3, 21), 9, 5), op(release_expired_holds)),
    ]
    # Pending points: paying a debt at once, refunded in part, cleared, expired, all while
    # pending; their windows close inside hours; and two posted late, one still pending.
    steps += [
        (
            minute(date(2026, 4, 2), 10, 0),
            op(earn, member_id="i", points=100, idempotency_key="i-1"),
        ),
        (
            minute(date(2026, 4, 2), 11, 0),
            op(spend, member_id="i", points=100, idempotency_key="i-s"),
        ),
        (minute(date(2026, 4, 2), 12, 0), refund("i-1")),  # 100 owed
        (
            minute(date(2026, 4, 3), 10, 45),
            op(
                earn,
                member_id="i",
                points=250,
                idempotency_key="i-2",
                available_at=minute(date(2026, 4, 10), 10, 45),
            ),
        ),
        (
            minute(date(2026, 4, 14), 13, 5),
            op(
                earn,
                member_id="f",
                points=300,
                idempotency_key="f-1",
                policy=Rolling(days=60),
                available_at=minute(date(2026, 4, 20), 10, 30),
            ),
        ),
        (minute(date(2026, 4, 15), 16, 20), refund("f-1", 100)),
        # an EXTEND lists the pending lot it moved, taking nothing from it
        (
            minute(date(2026, 4, 16), 9, 40),
            op(
                extend,
                member_id="f",
                until=at(date(2026, 7, 1)),
                reason="goodwill",
                actor="admin:ops",
                idempotency_key="f-x",
            ),
        ),
        (
            minute(date(2026, 4, 20), 8, 10),
            op(
                earn,
                member_id="g",
                points=200,
                idempotency_key="g-1",
                available_at=minute(date(2026, 5, 1), 14, 15),
            ),
        ),
        (
            minute(date(2026, 4, 22), 17, 35),
            op(clear, member_id="g", reason="清零", idempotency_key="g-c", actor="admin:ops"),
        ),
        (
            minute(date(2026, 4, 22), 18, 0),
            op(spend, member_id="f", points=50, idempotency_key="f-s"),
        ),
        (
            minute(date(2026, 4, 25), 9, 20),
            op(
                earn,
                member_id="h",
                points=150,
                idempotency_key="h-1",
                policy=Rolling(days=2),
                available_at=at(date(2026, 4, 28)),
            ),
        ),
        (minute(date(2026, 4, 27), 12, 0), op(expire_due)),  # h's points, still pending
        (
            minute(date(2026, 5, 18), 10, 10),
            op(
                earn,
                member_id="e",
                points=120,
                idempotency_key="e-pend",
                earned_at=minute(date(2026, 5, 16), 8, 0),
                available_at=minute(date(2026, 5, 23), 8, 0),
            ),
        ),
        (
            minute(date(2026, 5, 18), 10, 20),
            op(
                earn,
                member_id="e",
                points=90,
                idempotency_key="e-closed",
                earned_at=minute(date(2026, 4, 14), 8, 0),
                available_at=minute(date(2026, 4, 21), 7, 30),
            ),
        ),
    ]
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


async def recount_split(mongo: Mongo, until: datetime) -> tuple[int, int, int]:
    """(available, pending, held) just before `until`, lot by lot and hold by hold from the raw
    documents: a lot holds what its source entry gave it (less the debt that paid at once) from
    when that entry occurred, less every share other entries took from it by then (an EXTEND
    takes nothing); it is pending from its earn until its `available_at`, else available, its
    held part aside; a hold holds its points from its creation until it closes."""
    entries = {entry["_id"]: entry async for entry in mongo["ledger"].find({})}
    shares: dict[object, list[tuple[dict, int]]] = {}
    for entry in entries.values():
        for share in entry.get("lots", []):
            shares.setdefault(share["lot_id"], []).append((entry, share["points"]))
    held = 0
    async for made in mongo["holds"].find({}):
        closed = made.get("closed_at")
        if made["created_at"] < until and (closed is None or closed >= until):
            held += made["points"]
    pending = unreserved = 0
    async for lot in mongo["lots"].find({}):
        source = entries[lot["source_entry_id"]]
        if source["occurred_at"] >= until:
            continue
        moved = shares[lot["_id"]]
        paid_later = sum(n for entry, n in moved if entry["kind"] == "MATURE")
        given = sum(n for entry, n in moved if entry is source) - (lot["debt_paid"] - paid_later)
        taken = sum(
            n
            for entry, n in moved
            if entry is not source and entry["kind"] != "EXTEND" and entry["occurred_at"] < until
        )
        if lot["earned_at"] < until <= lot["available_at"]:
            pending += given - taken
        else:
            unreserved += given - taken
    return unreserved - held, pending, held


def end_of(day: date) -> datetime:
    """The local midnight after `day` in Shanghai, as UTC."""
    following = day + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=SHANGHAI).astimezone(UTC)
