"""Seeded books for the benchmarks: many members' ledgers made fast from a few the ledger wrote.

Writing a million entries through the ledger's API takes hours on SecantusDB (one transaction of
several commands each); the reports read what is stored, not how it got there. So a few dozen
template members are written through the public API (earns with a breakdown, a partner's earn
inside a return window, dated points that expire, spends, adjustments both ways, refunds, 清零),
each over weeks of a frozen clock, and every seeded member is a clone of one: its entries, lots
and account copied with new ids (every reference remapped: entry to lot, refund to entry, front
to lot, the expiry's key to its lot), its member id, and its instants all moved by one offset, so
the books are as valid as the template's (`verify_balances` finds no drift; the bench checks a
clone of every template). The documents go in with insert_many in large batches into collections
without secondary indexes, and the indexes are built once at the end (SecantusDB inserts about
ten times faster without them, and a unique index build checks every key once).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from app.clock import FrozenClock
from app.db import Document, Mongo
from app.ledger import (
    BreakdownLine,
    LedgerError,
    Rolling,
    adjust,
    clear,
    earn,
    expire_due,
    reverse,
    spend,
)
from app.ledger.order import DATED, expiry_of, instant_part

COLLECTIONS = ("ledger", "lots", "accounts")
FAR = datetime(3000, 1, 1, tzinfo=UTC)  # instants past this (a far expiry) are not moved


@dataclass
class Template:
    """One member's books as the ledger wrote them, and the span of their instants."""

    member: str
    documents: dict[str, list[Document]]
    first: datetime
    last: datetime

    @property
    def entries(self) -> int:
        return len(self.documents["ledger"])


async def write_template(mongo: Mongo, clock: FrozenClock, member: str, operations: int) -> None:
    """About `operations` ledger operations for `member`, weeks apart, drawn like real traffic:
    earns most, then spends, expiries, adjustments, refunds and the odd 清零; every dated lot is
    expired by the end (so a clone moved back in time has nothing overdue)."""
    n = 0
    earns: list[str] = []
    rolling = False

    def key() -> str:
        nonlocal n
        n += 1
        return f"{member}:{n}"

    async def balance() -> int:
        account = await mongo["accounts"].find_one({"_id": member})
        return 0 if account is None else int(account["available"])

    for step in range(operations):
        clock.advance(timedelta(minutes=random.randint(30, 5 * 24 * 60)))
        choice = random.choice(["EARN"] * 50 + ["REDEEM"] * 22 + ["ADJUST"] * 8 + ["REVERSAL"] * 6)
        choice = "EARN" if step == 0 else choice
        if step == operations - 1 and operations > 4 and random.random() < 0.2:
            choice = "CLEAR"
        points = random.randint(1, 500)
        have = await balance()
        if choice == "REDEEM" and have > 0:
            try:
                await spend(
                    mongo, clock, member_id=member, points=min(points, have), idempotency_key=key()
                )
            except LedgerError:  # fewer available than the account showed before its catch-up
                choice = "EARN"
        elif choice == "ADJUST" and (have > 0 or step % 2):
            signed = -min(points, have) if have > 0 and step % 2 == 0 else points
            try:
                await adjust(
                    mongo,
                    clock,
                    member_id=member,
                    points=signed,
                    reason="goodwill",
                    actor="admin:a",
                    idempotency_key=key(),
                )
            except LedgerError:
                choice = "EARN"
        elif choice == "REVERSAL" and earns:
            try:
                await reverse(
                    mongo,
                    clock,
                    entry_id=random.choice(earns),
                    points=random.randint(1, 20),
                    idempotency_key=key(),
                )
            except LedgerError:  # that earn was refunded already: an earn instead
                await earn(mongo, clock, member_id=member, points=points, idempotency_key=key())
        elif choice == "CLEAR" and have > 0:
            await clear(
                mongo,
                clock,
                member_id=member,
                reason="清零",
                actor="admin:a",
                idempotency_key=key(),
            )
        else:
            choice = "EARN"
        if choice == "EARN":
            shape = random.random()
            partner = shape < 0.4
            dated = 0.4 <= shape < 0.6
            rolling = rolling or dated
            line = [BreakdownLine("base", "1 point per 1 CNY", points, "L1", 1)]
            entry = await earn(
                mongo,
                clock,
                member_id=member,
                points=points,
                idempotency_key=key(),
                breakdown=line if partner else (),
                actor="partner:p1" if partner else None,
                channel="partner" if partner else None,
                available_at=clock.now() + timedelta(days=7) if partner else None,
                policy=Rolling(days=random.randint(5, 40)) if dated else None,
            )
            earns.append(entry.id)
    if rolling:  # every dated lot expires, written by the expiry job as it would be
        clock.advance(timedelta(days=41))
        await expire_due(mongo, clock)


async def read_template(mongo: Mongo, member: str) -> Template:
    documents = {
        name: [
            doc
            async for doc in mongo[name].find(
                {"_id" if name == "accounts" else "member_id": member}
            )
        ]
        for name in COLLECTIONS
    }
    instants = [at for docs in documents.values() for doc in docs for at in _instants(doc)]
    return Template(member, documents, min(instants), max(instants))


def _instants(value: Any) -> Iterator[datetime]:
    if isinstance(value, datetime):
        if value < FAR:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _instants(item)
    elif isinstance(value, list):
        for item in value:
            yield from _instants(item)


def clone(template: Template, member: str, shift: timedelta) -> dict[str, list[Document]]:
    """The template's documents for `member`: new ids, references remapped, instants moved by
    `shift`, and the keys made of ids or instants (an expiry's key, a lot's place in the spending
    order, the account's front) made again from the new ones."""
    ids: dict[ObjectId, ObjectId] = {}
    prefix = f"{template.member}:"

    def move(value: Any) -> Any:
        if isinstance(value, ObjectId):
            new = ids.get(value)
            if new is None:
                new = ids[value] = ObjectId()
            return new
        if isinstance(value, datetime):
            return value + shift if value < FAR else value
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    out = {name: [move(doc) for doc in docs] for name, docs in template.documents.items()}
    for lot in out["lots"]:
        lot["member_id"] = member
        lot["order"] = _move_key(lot["order"], shift)
    hexes = {str(old): str(new) for old, new in ids.items()}
    for entry in out["ledger"]:
        entry["member_id"] = member
        key = entry.get("idempotency_key")
        if isinstance(key, str):
            if key.startswith(prefix):
                entry["idempotency_key"] = f"{member}:{key[len(prefix) :]}"
            else:  # ledger:expire:<lot>[:<hold>]
                head, _, tail = key.partition(":expire:")
                ids_part = ":".join(hexes.get(part, part) for part in tail.split(":"))
                entry["idempotency_key"] = f"{head}:expire:{ids_part}"
    for account in out["accounts"]:
        account["_id"] = member
        for item in account.get("front") or []:
            item["k"] = _move_key(item["k"], shift)
        if account.get("front_end") is not None:
            account["front_end"] = _move_key(account["front_end"], shift)
    return out


def _move_key(key: str, shift: timedelta) -> str:
    """A place in the spending order with its expiry instant (if dated) moved by `shift`."""
    at = expiry_of(key)
    if at is None:
        return key
    return f"{DATED}{instant_part(at + shift)}{key[key.index('|') :]}"


def pick(templates: list[Template], wanted: float) -> Template:
    """A random template of about `wanted` entries (half to one and a half times; the nearest
    if none): many members' histories, whose lengths average out to what is left to seed."""
    near = [t for t in templates if wanted / 2 <= t.entries <= wanted * 1.5]
    if near:
        return random.choice(near)
    best = min(abs(t.entries - wanted) for t in templates)
    return random.choice([t for t in templates if abs(t.entries - wanted) - best < 1])


async def seed_books(
    mongo: Mongo,
    templates: list[Template],
    members: int,
    entries: int,
    *,
    first: datetime,
    last: datetime,
    batch: int,
) -> tuple[int, int, dict[str, list[Document]]]:
    """`members` clones of the templates (some with none, if fewer entries than members), their lengths chosen so that the entries add up to
    about `entries`, each moved to a random place in [first, last]; returns the entries written,
    their sum of points, and the very documents of a sample of members (the first clone of each
    template and one member in a thousand), for `verify_balances` in a small database."""
    started = time.perf_counter()
    pending: dict[str, list[Document]] = {name: [] for name in COLLECTIONS}
    written = total = 0
    witnesses: dict[str, str] = {}
    samples: dict[str, list[Document]] = {name: [] for name in COLLECTIONS}

    async def flush(force: bool) -> None:
        for name, docs in pending.items():
            if docs and (force or len(docs) >= batch):
                await mongo[name].insert_many(docs, ordered=False)
                docs.clear()

    for n in range(members):
        wanted = (entries - written) / (members - n)
        if wanted < 1 and random.random() >= wanted:
            continue  # fewer entries than members: this one has no books (no account) yet
        template = pick(templates, max(wanted, 1))
        member = f"m{n:07d}"
        sampled = witnesses.setdefault(template.member, member) == member or n % 1000 == 0
        low = first - template.first
        high = last - template.last
        shift = low + (high - low) * random.random() if high > low else low
        for name, docs in clone(template, member, shift).items():
            pending[name].extend(docs)
            if sampled:
                samples[name].extend(dict(doc) for doc in docs)
        written += template.entries
        total += sum(doc["points"] for doc in template.documents["ledger"])
        await flush(False)
        if (n + 1) % 10_000 == 0:
            rate = written / (time.perf_counter() - started)
            print(f"  {n + 1:,} members, {written:,} entries, {rate:,.0f} a second", flush=True)
    await flush(True)
    return written, total, samples
