"""Document sizes: what a member, a purchase and a redemption add to each collection, in BSON bytes.

    .venv/bin/python bench/sizes.py [--members 200] [--purchases 6] [--smoke]

Starts an embedded SecantusDB and the Jifen app in this process (its ASGI app, no sockets), seeds
the demo program, a partner and a reward, then grows the database in three steps through the same
public paths a brand uses, and after each step measures every collection as the sum of
`len(bson.encode(document))` over its documents (what MongoDB stores before compression; SecantusDB
has no collStats): `--members` members with a phone, an email and a birthday; `--purchases` 5-line
purchases each through the partner API (recordPurchase), then their return window closed (the mature job, as of 8 days
later); one redemption each through the member
API (redeemReward). It prints, per step, the bytes each collection grew by per member, purchase or
redemption and the documents it gained, and the average size of a member, an account, an entry, a
lot and an order, also compressed with zlib in 32 KB pages (as WiredTiger stores them). docs/operations.md ("Production shape") works out a program's storage from these figures.
The ledger must verify at the end, or it exits with a non-zero status. `--smoke` runs tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.auth import PrincipalKind
from app.clock import FrozenClock, SystemClock
from app.config import Environment, Settings
from app.db import Mongo, connect
from app.embedded import EmbeddedMongo
from app.ledger import mature_due, verify_balances
from app.main import create_app
from app.members import create_member
from app.partners import register_partner
from app.program import save_program
from app.rewards import Reward
from app.runtime import Runtime
from app.seed import DEMO_PROGRAM
from graphql_schema.ids import to_global_id

PURCHASE = """mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { purchase { total } userErrors { code } } }"""
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id } userErrors { code } } }"""
SHOWN = ("members", "accounts", "ledger", "lots", "orders")  # the averages printed at the end
PAGE = 32 * 1024  # WiredTiger's largest leaf page by default: the unit its block compressor sees


async def sizes(mongo: Mongo) -> dict[str, tuple[int, int]]:
    """(documents, BSON bytes) of every collection."""
    found = {}
    for name in sorted(await mongo.db.list_collection_names()):
        count = total = 0
        async for document in mongo[name].find():
            count += 1
            total += len(bson.encode(document))
        found[name] = (count, total)
    return found


async def compressed(mongo: Mongo, name: str) -> int:
    """The collection's documents packed into pages of PAGE bytes, each compressed with zlib (what
    WiredTiger does with block_compressor=zlib; its default, snappy, compresses less)."""
    total, page = 0, b""
    async for document in mongo[name].find():
        page += bson.encode(document)
        if len(page) >= PAGE:
            total, page = total + len(zlib.compress(page)), b""
    return total + (len(zlib.compress(page)) if page else 0)


def growth(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], per: int) -> str:
    lines = []
    for name, (count, total) in after.items():
        was_count, was_total = before.get(name, (0, 0))
        if total != was_total or count != was_count:
            lines.append(
                f"  {name:<18} {(total - was_total) / per:8.0f} B"
                f"  {(count - was_count) / per:5.2f} documents"
            )
    grown = sum(t for _, t in after.values()) - sum(t for _, t in before.values())
    return "\n".join([*lines, f"  {'all':<18} {grown / per:8.0f} B"])


def purchase(member_id: str, n: int) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "member": {"id": to_global_id("Member", member_id)},
        "orderId": f"POS-0001-{member_id}-{n:04d}",
        "occurredAt": at.isoformat(),
        "channel": "store",
        "lines": [
            {
                "lineId": f"L{k}",
                "sku": f"SKU-{1000 + k}",
                "category": "food",
                "quantity": 1,
                "amount": f"{10 * k + 3}.50",
            }
            for k in range(1, 6)
        ],
    }


async def post(http: httpx.AsyncClient, query: str, token: str, variables: dict[str, Any]) -> None:
    reply = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body = reply.json()
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert payload["userErrors"] == [], payload


async def run(url: str, data_dir: Path, members: int, purchases: int) -> None:
    settings = Settings(env=Environment.TEST, mongodb_url=url, db_name="sizes", data_dir=data_dir)
    clock = SystemClock()
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        runtime: Runtime = application.state.runtime
        mongo, issuer = runtime.mongo, runtime.issuer
        assert issuer is not None
        await save_program(mongo, clock, DEMO_PROGRAM)
        reward = Reward(id="r_cup", name="Cup", points_price=20, stock=1_000_000)
        await mongo["rewards"].insert_one(reward.model_dump(by_alias=True))
        partner = await register_partner(
            mongo, clock, name="Till", scopes=["points:earn"], actor="bench"
        )
        till = issuer.mint(PrincipalKind.PARTNER, partner.id, scopes=["points:earn"])
        start = await sizes(mongo)

        ids = []
        for n in range(members):
            member = await create_member(
                mongo,
                clock,
                name=f"Member {n:07d}",
                tier="member",
                phone=f"1380000{n:04d}",
                email=f"member{n}@example.com",
                birthday=date(1990, 1 + n % 12, 1 + n % 28),
            )
            ids.append(member.id)
        joined = await sizes(mongo)
        print(f"per member joined ({members}):\n{growth(start, joined, members)}")

        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.bench") as http:
            for n in range(purchases):
                for member_id in ids:
                    await post(http, PURCHASE, till, {"input": purchase(member_id, n)})
            bought = await sizes(mongo)
            count = members * purchases
            print(f"per purchase ({count}, 5 lines):\n{growth(joined, bought, count)}")

            # The return window (7 days) closes: the mature job, run as of 8 days on.
            later = FrozenClock(clock.now() + timedelta(days=DEMO_PROGRAM.return_window_days + 1))
            await mature_due(mongo, later)
            matured = await sizes(mongo)
            print(f"per purchase matured ({count}):\n{growth(bought, matured, count)}")

            for member_id in ids:
                token = issuer.mint(PrincipalKind.MEMBER, member_id)
                variables = {
                    "input": {
                        "rewardId": to_global_id("Reward", reward.id),
                        "idempotencyKey": "bench",
                    }
                }
                await post(http, REDEEM, token, variables)
            redeemed = await sizes(mongo)
            print(f"per redemption ({members}):\n{growth(matured, redeemed, members)}")

        print("average document: BSON bytes, and zlib-compressed in 32 KB pages:")
        for name in SHOWN:
            count, total = redeemed[name]
            packed = await compressed(mongo, name)
            print(
                f"  {name:<10} {total / count:6.0f} B  {packed / count:6.0f} B  ({count} documents)"
            )
        drifts = await verify_balances(mongo)
        print(f"verify_balances: {len(drifts)} drifts")
        if drifts:
            raise SystemExit(1)
    cleanup = connect(url, "sizes")
    await cleanup.client.drop_database("sizes")
    await cleanup.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--purchases", type=int, default=6, help="per member")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.members, args.purchases = 10, 2
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=False)
        url = server.start()
        try:
            asyncio.run(run(url, Path(tmp) / "data", args.members, args.purchases))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
