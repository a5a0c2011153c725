"""A backup is one instant of the books: taken while 200 writers earn and spend, it restores into
a database whose every balance equals its entries and lots (`ledger verify`), and a restored
instance answers every member and operator exactly as the original does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from app.auth import PrincipalKind
from app.backup import restore_archive, take_backup
from app.clock import FrozenClock
from app.config import Settings
from app.db import Mongo, connect
from app.ledger import OpeningEarn, earn, open_books, spend, verify_balances
from app.main import create_app
from tests.api.gql import ask, data, member_token
from tests.reports.served_story import tell_served_story

WRITERS = 200


async def test_a_backup_taken_during_200_concurrent_writes_restores_into_books_that_verify(
    mongo: Mongo, mongo_url: str, target: Mongo, clock: FrozenClock, tmp_path: Path
) -> None:
    # The writers' own client, a connection each: with the default pool of 100, half of them
    # queued for a connection, and on a loaded machine past the driver's 30 s wait.
    writing = connect(mongo_url, mongo.db.name, maxPoolSize=WRITERS)
    members = [f"m{n:03d}" for n in range(WRITERS)]
    await open_books(mongo, {m: [OpeningEarn(1_000, clock.now())] for m in members}, clock.now())
    opening = await mongo["ledger"].count_documents({})
    written = 0
    reading_from = 0  # how many writes were in when the backup had read its first collection
    enough, backed_up = asyncio.Event(), asyncio.Event()

    async def write(member: str) -> None:
        """Earn and spend in turn, each one transaction, until another 200 writes have landed
        after the snapshot was taken (or the backup has read the books)."""
        nonlocal written
        n = 0
        while not backed_up.is_set():
            key = f"{member}:{n}"
            if n % 2 == 0:
                await earn(writing, clock, member_id=member, points=10, idempotency_key=key)
            else:
                await spend(writing, clock, member_id=member, points=7, idempotency_key=key)
            n += 1
            written += 1
            if written >= WRITERS:
                enough.set()
            if reading_from and written >= reading_from + WRITERS:
                backed_up.set()

    writers = [asyncio.create_task(write(member)) for member in members]
    try:
        async with asyncio.timeout(120):
            await enough.wait()  # the first 200 writes are in; all 200 writers go on
        archive = tmp_path / "under-load.jifen-backup.gz"

        def read(done: int, total: int, collection: str) -> None:
            # The first collection is read, so the snapshot is fixed: every write from here on
            # lands after it. 200 more of them, and the writers stop; the backup reads on alone
            # (200 writers all along the backup cost a minute and proved nothing more).
            nonlocal reading_from
            if not reading_from:
                reading_from = written
            if collection == "lots":
                backed_up.set()

        manifest = await take_backup(mongo, archive, now=clock.now(), progress=read)
    finally:
        backed_up.set()
        await asyncio.gather(*writers)
        await writing.close()
    final = await mongo["ledger"].count_documents({})

    restored = await restore_archive(target, archive, now=clock.now())
    assert restored.drifts == []
    assert await verify_balances(target) == []
    in_archive = await target["ledger"].count_documents({})
    listed = {part.name: part.count for part in manifest.collections}
    assert in_archive == listed["ledger"]
    # The snapshot fell among the writes: some before it, some after it, none half there.
    assert opening + WRITERS <= in_archive < final, (opening, in_archive, final)
    async for account in target["accounts"].find({}):
        entries = [e async for e in target["ledger"].find({"member_id": account["_id"]})]
        assert [e["seq"] for e in sorted(entries, key=lambda e: e["seq"])] == list(
            range(1, len(entries) + 1)
        )
        assert sum(e["points"] for e in entries) == account["available"] + account["held"]


MEMBER = """{ me { balance { available pending held debt lifetimeEarned }
  history(first: 50) { edges { node { id kind points balanceAfter occurredAt reference
    debtChange breakdown { rule points } } } }
  redemptions(first: 10) { edges { node { id points quantity } } } } }"""
REPORTS = """query($from: Date!, $to: Date!, $date: Date) { reports {
  liability(date: $date) { points available pending held debt money csv }
  pointsFlow(from: $from, to: $to, by: DAY) { csv }
  earnByRule(from: $from, to: $to) { csv }
  byPartner(from: $from, to: $to) { csv }
  topEarners(from: $from, to: $to, first: 5) { csv }
  memberActivity(dormantDays: 30) { csv }
  redemptionsByReward(from: $from, to: $to) { csv }
  breakage(from: $from, to: $to) { issued expired rate } } }"""


async def test_a_restored_instance_serves_the_same_balances_histories_and_reports(
    client, runtime, clock, issuer, settings: Settings, target: Mongo, tmp_path: Path
) -> None:
    ann, bo = await tell_served_story(client, runtime, clock, issuer)

    archive = tmp_path / "served.jifen-backup.gz"
    await take_backup(runtime.mongo, archive, now=clock.now())
    assert (await restore_archive(target, archive, now=clock.now())).drifts == []

    tokens = {ann: member_token(issuer, ann), bo: member_token(issuer, bo)}
    operator = issuer.mint(PrincipalKind.ADMIN, "finance", scopes=["reports:read"])
    variables = {"from": "2026-01-01", "to": "2026-01-31", "date": "2026-01-15"}

    async def answers(http: Any) -> list[dict[str, Any]]:
        shown = [data(await ask(http, MEMBER, token)) for token in tokens.values()]
        shown.append(data(await ask(http, REPORTS, operator, variables)))
        return shown

    original = await answers(client)
    assert original[0]["me"]["history"]["edges"] and original[0]["me"]["redemptions"]["edges"]
    restored_app = create_app(settings.model_copy(update={"db_name": target.db.name}), clock=clock)
    async with restored_app.router.lifespan_context(restored_app):
        transport = httpx.ASGITransport(app=restored_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as http:
            assert await answers(http) == original
