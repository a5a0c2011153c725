"""Reports benchmark: the liability and issuance reports over 100,000 members and 1,000,000 entries.

    .venv/bin/python -m bench.reports [--members 100000] [--entries 1000000] [--days 365]

Runs on the embedded database (a SecantusDB process of its own, in a temporary folder, not
synced on commit: seeding is not what is measured). The entries are copies of documents the
ledger itself wrote (an earn with its breakdown, a spend, an expiry, an adjustment, a refund,
a 清零), each with its own id, member, number, key, points and dates, spread over `--days` days
and inserted with insert_many; the accounts likewise; each earn with its lot (two in five
pending for 7 days, the liability's pending points), and a checkout's hold every 50 entries,
closed 10 minutes later (its held points). Then it prints, with the database commands each took:

- the hourly rollup built once (what the worker does as entries arrive);
- the liability as of a past date and as of now, and the issuance report of a month by day and
  of a year by month, with the rollup;
- the reports that read entries themselves (top earners of a month) and the member activity;
- last, the two liabilities summed from the raw entries alone (the rollup's state removed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson import ObjectId

from app.clock import FrozenClock
from app.db import Document, Mongo, TransactionFailed, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import BreakdownLine, adjust, clear, earn, expire_due, reverse, spend
from app.program.expiry import Rolling
from app.program.models import Program, Tier
from app.program.service import save_program
from app.reports import (
    Period,
    liability_as_of,
    member_activity,
    points_flow,
    roll_up_ledger,
    top_earners,
)
from bench.ledger import Commands

PROGRAM = Program(
    name="Bench Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(Tier(code="member", name="Member", threshold=0),),
)
# Of every 100 entries: 55 earns, 22 spends, 10 expiries, 6 adjustments, 5 refunds, 2 清零.
MIX = ["EARN"] * 55 + ["REDEEM"] * 22 + ["EXPIRE"] * 10 + ["ADJUST"] * 6 + ["REVERSAL"] * 5
MIX += ["CLEAR"] * 2


async def templates(mongo: Mongo, clock: FrozenClock) -> tuple[dict[str, Document], Document]:
    """One entry of each kind and an account, as the ledger writes them (in a database of their
    own)."""
    line = [BreakdownLine("base", "1 point per 1 CNY", 100, "L1", 1)]
    first = await earn(
        mongo, clock, member_id="t", points=100, idempotency_key="t1", breakdown=line,
        policy=Rolling(days=1), actor="partner:p1", channel="partner",
    )  # fmt: skip
    await earn(mongo, clock, member_id="t", points=500, idempotency_key="t2")
    await spend(mongo, clock, member_id="t", points=50, idempotency_key="t3")
    await adjust(mongo, clock, member_id="t", points=30, reason="goodwill", actor="admin:a",
                 idempotency_key="t4")  # fmt: skip
    await reverse(mongo, clock, entry_id=first.id, points=20, idempotency_key="t5")
    clock.advance(timedelta(days=2))
    await expire_due(mongo, clock)
    await clear(mongo, clock, member_id="t", reason="清零", actor="admin:a", idempotency_key="t6")
    kinds = {doc["kind"]: doc async for doc in mongo["ledger"].find({})}
    account = await mongo["accounts"].find_one({"_id": "t"})
    assert account is not None and set(MIX) <= kinds.keys()
    return kinds, account


def entry(template: Document, n: int, member: str, seq: int, at: datetime) -> Document:
    points = random.randint(1, 500)
    sign = 1 if template["kind"] == "EARN" or (template["kind"] == "ADJUST" and n % 2) else -1
    document = dict(template)
    document.update(
        _id=ObjectId(), member_id=member, seq=seq, idempotency_key=f"bench:{n}",
        points=sign * points, occurred_at=at, recorded_at=at + timedelta(seconds=n % 5),
        lots=[{"lot_id": ObjectId(), "points": points}],
    )  # fmt: skip
    if template.get("breakdown"):
        document["breakdown"] = [{**template["breakdown"][0], "points": points}]
    return document


def lot_of(earned: Document, n: int) -> Document:
    """The lot an earn issued: pending for 7 days for two earns in five."""
    at = earned["occurred_at"]
    window = timedelta(days=7) if n % 5 < 2 else timedelta(0)
    share = earned["lots"][0]
    return {
        "_id": share["lot_id"], "member_id": earned["member_id"], "amount": share["points"],
        "remaining": share["points"], "held": 0, "reversed": 0, "debt_paid": 0,
        "status": "available", "earned_at": at, "available_at": at + window, "expires_at": None,
        "policy": {"kind": "never", "params": {}}, "source_entry_id": earned["_id"],
    }  # fmt: skip


def hold_at(member: str, at: datetime, now: datetime) -> Document:
    closed = at + timedelta(minutes=10)
    return {
        "_id": ObjectId(), "member_id": member, "points": random.randint(1, 300), "captured": 0,
        "status": "released" if closed <= now else "active", "expires_at": closed,
        "created_at": at, "closed_at": closed if closed <= now else None, "lots": [],
    }  # fmt: skip


async def seed(mongo: Mongo, args: argparse.Namespace, now: datetime, kinds: dict[str, Document],
               account: Document) -> None:  # fmt: skip
    members = [f"m{n:06d}" for n in range(args.members)]
    started = time.perf_counter()
    batch: list[Document] = []
    for n, member in enumerate(members):
        active = now - timedelta(days=random.randint(0, 2 * args.days))
        batch.append({**account, "_id": member, "last_activity_at": active})
        if len(batch) == 10_000 or n == len(members) - 1:
            await mongo["accounts"].insert_many(batch, ordered=False)
            batch = []
    print(f"accounts: {args.members:,} in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    seqs: Counter[str] = Counter()
    span = args.days * 86_400
    lots: list[Document] = []
    holds: list[Document] = []
    for n in range(args.entries):
        member = random.choice(members)
        seqs[member] += 1
        at = now - timedelta(seconds=random.randrange(span))
        batch.append(entry(kinds[random.choice(MIX)], n, member, seqs[member], at))
        if batch[-1]["kind"] == "EARN":
            lots.append(lot_of(batch[-1], n))
        if n % 50 == 0:
            holds.append(hold_at(member, at, now))
        if len(batch) == args.batch or n == args.entries - 1:
            await mongo["ledger"].insert_many(batch, ordered=False)
            await mongo["lots"].insert_many(lots, ordered=False)
            if holds:
                await mongo["holds"].insert_many(holds, ordered=False)
            batch, lots, holds = [], [], []
            if (n + 1) % 100_000 == 0:
                rate = (n + 1) / (time.perf_counter() - started)
                print(f"  {n + 1:,} entries, {rate:,.0f} a second", flush=True)
    took = time.perf_counter() - started
    print(f"entries: {args.entries:,} in {took:.1f} s ({args.entries / took:,.0f} a second)")


async def timed(name: str, listener: Commands, work: Callable[[], Awaitable[Any]]) -> Any:
    listener.counts.clear()
    started = time.perf_counter()
    result = await work()
    took = time.perf_counter() - started
    commands = ", ".join(f"{k} {v}" for k, v in sorted(listener.counts.items()))
    print(f"{name:<46} {took:8.2f} s   ({commands})", flush=True)
    return result


async def bench(url: str, args: argparse.Namespace) -> None:
    listener = Commands()
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FrozenClock(now - timedelta(days=args.days + 10))
    # SecantusDB answers one command at a time: while it sums a million entries it cannot answer
    # the client's heartbeat, and with the product's 2 s connect timeout the client would cancel
    # the running command. The bench waits as long as a report takes instead.
    mongo = connect(url, "bench_reports", event_listeners=[listener], connectTimeoutMS=300_000)
    scratch = connect(url, "bench_templates")
    await ensure_indexes(mongo)
    await ensure_indexes(scratch)
    await save_program(scratch, clock, PROGRAM)
    await save_program(mongo, clock, PROGRAM)
    clock.set(now - timedelta(days=args.days // 2))
    await save_program(mongo, clock, PROGRAM.model_copy(update={"point_value": Decimal("0.012")}))
    kinds, account = await templates(scratch, FrozenClock(now - timedelta(days=args.days + 5)))
    await seed(mongo, args, now, kinds, account)
    clock.set(now)
    past = (now - timedelta(days=90)).date()
    month = (now - timedelta(days=40)).date().replace(day=1)
    month_end = (month + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    print(f"\n{'report':<46} {'time':>8}     database commands")
    rolled = await timed("rollup built (once)", listener, lambda: roll_up_ledger(mongo, clock))
    print(
        f"  {rolled:,} entries rolled up into {await mongo['ledger_hours'].count_documents({}):,} hours"
    )
    await liabilities(mongo, clock, listener, past, "rollup")
    await timed("issuance of a month by day, rollup", listener,
                lambda: points_flow(mongo, month, month_end, Period.DAY))  # fmt: skip
    await timed("issuance of a year by month, rollup", listener,
                lambda: points_flow(mongo, past.replace(day=1) - timedelta(days=270),
                                    past, Period.MONTH))  # fmt: skip
    await timed("top 20 earners of a month", listener,
                lambda: top_earners(mongo, month, month_end, 20))  # fmt: skip
    await timed(f"member activity ({args.members:,} accounts)", listener,
                lambda: member_activity(mongo, clock, 365))  # fmt: skip
    # Without the rollup every report sums the raw entries inside one transaction; on SecantusDB
    # 1,000,000 entries take longer than a transaction's 30 s budget outside a request.
    await mongo["meta"].delete_many({})
    try:
        await liabilities(mongo, clock, listener, past, "no rollup (raw entries)")
    except TransactionFailed as exc:
        print(f"  no rollup: refused after the transaction budget ({exc})")
    await mongo.close()
    await scratch.close()


async def liabilities(
    mongo: Mongo, clock: FrozenClock, listener: Commands, past: date, how: str
) -> None:
    for name, on in ((str(past), past), ("now", None)):

        def report(on: date | None = on) -> Awaitable[Any]:
            return liability_as_of(mongo, clock, on=on)

        found = await timed(f"liability as of {name}, {how}", listener, report)
        split = [getattr(found, part, None) for part in ("available", "pending", "held")]
        told = ", ".join(f"{n:,}" for n in split if n is not None)
        print(f"  {found.points:,} points, {found.money} {found.value.currency}; split: {told}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365, help="the entries' span, back from now")
    parser.add_argument("--batch", type=int, default=10_000, help="entries per insert_many")
    args = parser.parse_args()
    random.seed(11)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=False)
        url = server.start()
        try:
            asyncio.run(bench(url, args))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
