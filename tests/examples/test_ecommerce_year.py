"""A year and a bit of the e-commerce program (examples/ecommerce.toml) as one member lives it,
over HTTP with the worker's jobs run in-process when they would run. Shanghai is UTC+8: every
calendar thing (member day, 11.11, check-in days, year-end expiry) is in local time, while the
tills send occurredAt in UTC."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.auth import PrincipalKind
from app.partners import register_partner
from app.worker import schedule
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, member_token
from tests.engagement.api import check_in, error_codes, record
from tests.ledger.conftest import assert_invariants
from tests.partners.api import CAPTURE, HOLD, PURCHASE, QUOTE, REFUND
from tests.processes import JIFEN, jifen_env

PROGRAM = Path(__file__).parents[2] / "examples" / "ecommerce.toml"
ME = """{ me { tier { code } balance { available pending held
  nextExpiry { points expiresAt } }
  tierProgress { current { code } next { code } qualifyingPoints pointsToNext windowEndsAt } } }"""
BALANCE = """query($member: MemberRefInput!) {
  memberBalance(member: $member) { available pending held debt nextExpiryAt nextExpiryPoints }
}"""
END_2027 = datetime(2027, 12, 31, 16, tzinfo=UTC)  # 2028-01-01 00:00 in Shanghai


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Mall:
    """The till (a registered partner) and the member's app, tokens minted at the clock's now."""

    def __init__(self, client, runtime, clock, issuer, partner_id: str, member_id: str) -> None:
        self.client, self.runtime, self.clock, self.issuer = client, runtime, clock, issuer
        self.partner_id, self.member_id = partner_id, member_id
        self.ref = {"id": to_global_id("Member", member_id)}

    def till(self) -> str:
        scopes = ["points:earn", "points:redeem", "points:read"]
        return self.issuer.mint(PrincipalKind.PARTNER, self.partner_id, scopes=scopes)

    async def call(self, query: str, **variables: Any) -> dict[str, Any]:
        return data(await ask(self.client, query, self.till(), variables))

    async def buy(self, order: str, at: str, lines: dict[str, str], used: int = 0) -> dict:
        """An order at `at` (UTC): lines as {category: amount}; the clock moves there first."""
        self.clock.set(utc(at))
        items = [
            {"lineId": c, "sku": c.upper(), "category": c, "quantity": 1, "amount": amount}
            for c, amount in lines.items()
        ]
        body = {
            "member": self.ref,
            "orderId": order,
            "occurredAt": at + "Z",
            "lines": items,
            "pointsUsed": used,
        }
        result = (await self.call(PURCHASE, input=body))["recordPurchase"]
        assert result["userErrors"] == [], result
        return dict(result["purchase"])

    async def refund(self, order: str, refund: str, line: str, amount: str) -> dict:
        body = {"orderId": order, "refundId": refund, "lines": [{"lineId": line, "amount": amount}]}
        result = (await self.call(REFUND, input=body))["recordRefund"]
        assert result["userErrors"] == [], result
        return dict(result["refund"])

    async def balance(self) -> dict[str, Any]:
        return dict((await self.call(BALANCE, member=self.ref))["memberBalance"])

    async def me(self) -> dict[str, Any]:
        token = member_token(self.issuer, self.member_id)
        return dict(data(await ask(self.client, ME, token))["me"])

    async def run(self, job, at: datetime) -> int:
        """A worker pass of `job` at `at`: loops until it says there is no more; lots touched."""
        self.clock.set(at)
        done = 0
        while True:
            outcome = await job(self.runtime.mongo, self.clock)
            done += outcome.handled
            if not outcome.more:
                return done


def apply_program(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`jifen program apply examples/ecommerce.toml` as the operator runs it."""
    command = [JIFEN, "program", "apply", str(PROGRAM)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def points(result: dict) -> tuple[int, int, int, int]:
    return result["available"], result["pending"], result["held"], result["debt"]


async def test_a_mall_members_year_from_first_order_to_the_year_end_expiry(
    client, runtime, clock, issuer, mongo_url, db_name, tmp_path
) -> None:
    applied = apply_program(jifen_env(mongo_url, db_name, tmp_path))
    assert applied.returncode == 0, applied.stderr
    shop = await register_partner(
        runtime.mongo,
        clock,
        name="Mall",
        scopes=["points:earn", "points:redeem", "points:read"],
        actor="cli:test",
    )
    mall = Mall(client, runtime, clock, issuer, shop.id, await make_member(runtime, clock))

    # Mon 2 March, 12:00 local: 500 CNY of clothes earn 500 (1 per CNY); the gift card and the
    # shipping are excluded (0-point rows). Pending for the 7-day return window.
    o1 = await mall.buy(
        "o1",
        "2026-03-02T04:00:00",
        {"apparel": "500.00", "gift-card": "200.00", "shipping": "10.00"},
    )
    assert (o1["total"], o1["status"]) == (500, "PENDING")
    assert o1["availableAt"] == "2026-03-09T04:00:00.000+00:00"
    assert sorted((r["lineId"], r["rule"], r["points"]) for r in o1["breakdown"]) == [
        ("apparel", "base", 500),
        ("gift-card", "excluded", 0),
        ("shipping", "excluded", 0),
    ]
    # Tue 3 March 17:30 UTC is Wed 4 March 01:30 in Shanghai: member day, double points.
    # 300 + 100 CNY: base 400 + campaign 400 = 800, pending until 11 March.
    o2 = await mall.buy("o2", "2026-03-03T17:30:00", {"apparel": "300.00", "books": "100.00"})
    assert o2["total"] == 800
    # Fri 6 March, inside the window: the books (100 CNY) come back: their rows, base 100 +
    # member day 100 = 200, are taken from o2's pending lot: pending 500 + 600.
    clock.set(utc("2026-03-06T02:00:00"))
    assert (await mall.refund("o2", "o2-r1", "books", "100.00"))["pointsReversed"] == 200
    assert points(await mall.balance()) == (0, 1100, 0, 0)
    # The mature job a second before o1's window closes does nothing, at the instant it moves 500.
    assert await mall.run(schedule.mature, utc("2026-03-09T03:59:59")) == 0
    assert await mall.run(schedule.mature, utc("2026-03-09T04:00:00")) == 1
    assert points(await mall.balance()) == (500, 600, 0, 0)
    assert await mall.run(schedule.mature, utc("2026-03-11T12:00:00")) == 1  # o2's 600
    assert points(await mall.balance()) == (1100, 0, 0, 0)

    # Check-in Mon 16 - Thu 19 March (17:00 local): 5, 5, 10, 10; Fri 20 missed; Sat 21 starts
    # over at 5. 35 points, available at once.
    streak = []
    for day in (16, 17, 18, 19, 21):
        clock.set(datetime(2026, 3, day, 9, tzinfo=UTC))
        done = (await check_in(client, member_token(issuer, mall.member_id)))["checkIn"]
        streak.append((done["streak"], done["points"]))
    assert streak == [(1, 5), (2, 5), (3, 10), (4, 10), (1, 5)]
    # Reviews on Mon 23 March: 20 each, at most 3 a day: the 4th is refused.
    clock.set(utc("2026-03-23T03:00:00"))
    reviews = [await record(client, mall.till(), mall.ref, "review", f"r{n}") for n in range(3)]
    assert [review["earn"]["points"] for review in reviews] == [20, 20, 20]
    assert error_codes(await record(client, mall.till(), mall.ref, "review", "r3")) == [
        "ACTIVITY_LIMIT_REACHED"
    ]
    assert points(await mall.balance()) == (1100 + 35 + 60, 0, 0, 0)

    # Mon 6 April: 900 CNY earn 900 at the member rate, and qualifying 500 + 600 + 35 + 60 + 900
    # = 2095 >= 2000 upgrades to silver at this crossing purchase.
    assert (await mall.buy("o3", "2026-04-06T04:00:00", {"apparel": "900.00"}))["total"] == 900
    me = await mall.me()
    assert me["tier"] == {"code": "silver"}
    # o1's points (2 March local) leave the 365-day window at 2 March 2027 00:00 local.
    assert me["tierProgress"] == {
        "current": {"code": "silver"},
        "next": {"code": "gold"},
        "qualifyingPoints": 2095,
        "pointsToNext": 10000 - 2095,
        "windowEndsAt": "2027-03-01T16:00:00.000+00:00",
    }
    await mall.run(schedule.mature, utc("2026-04-13T04:00:00"))

    # 11.11 is a Wednesday: both campaigns are best_of, so double once, not quadruple.
    # 1000 CNY: base 1000, silver × 1.1 adds 100, one campaign adds base × (2 - 1) = 1000: 2100.
    o4 = await mall.buy("o4", "2026-11-11T06:00:00", {"apparel": "1000.00", "shipping": "15.00"})
    assert o4["total"] == 2100
    rows = {r["rule"]: r["points"] for r in o4["breakdown"] if r["lineId"] == "apparel"}
    assert [rows["base"], rows["tier:silver"]] == [1000, 100]
    assert [p for rule, p in rows.items() if rule.startswith("campaign:")] == [1000]
    await mall.run(schedule.mature, utc("2026-11-18T06:00:00"))
    # 500 + 600 + 35 + 60 + 900 + 2100
    assert points(await mall.balance()) == (4195, 0, 0, 0)

    # Fri 20 Nov, a 200 CNY order paid 20 % with points: 40 CNY at 0.01 = 4000 points (a
    # multiple of 100, and under the 4195 available). Hold, capture, then the purchase:
    # 200 × 1.1 = 220 pending (it earns on its lines as sent).
    clock.set(utc("2026-11-20T02:00:00"))
    quote = (await mall.call(QUOTE, member=mall.ref, amount="200.00"))["quoteOffset"]
    assert quote == {"points": 4000, "value": "40", "pointValue": "0.01", "available": 4195}
    hold = (
        await mall.call(
            HOLD,
            input={
                "member": mall.ref,
                "points": 4000,
                "orderId": "o5",
                "idempotencyKey": "o5-hold",
            },
        )
    )["holdPoints"]
    assert points(await mall.balance()) == (195, 0, 4000, 0)
    capture = await mall.call(
        CAPTURE, input={"holdId": hold["hold"]["id"], "idempotencyKey": "o5-pay"}
    )
    assert capture["capturePoints"]["entry"] == {"kind": "REDEEM", "points": -4000}
    assert (await mall.buy("o5", "2026-11-20T02:05:00", {"shoes": "200.00"}, 4000))["total"] == 220
    assert points(await mall.balance()) == (195, 220, 0, 0)
    # The 4000 came from the oldest lots first (all expire together): 2095 before o4, then
    # 1905 of o4's 2100, so 195 of o4 are left. Sun 22 Nov 100 CNY of the 11.11 clothes come
    # back: 2100 × 100/1000 = 210; the 195 unspent are taken, no other lot is available, and
    # the 15 left become a debt.
    clock.set(utc("2026-11-22T02:00:00"))
    # (pointsReversed is what the refunded lines earned; where it came from shows in the balance.)
    assert await mall.refund("o4", "o4-r1", "apparel", "100.00") == {
        "orderId": "o4",
        "refundId": "o4-r1",
        "pointsReversed": 210,
        "pointsReturned": 0,
    }
    assert points(await mall.balance()) == (0, 220, 0, 15)
    # o5's 220 mature on 27 Nov and pay the debt first: 205 available.
    await mall.run(schedule.mature, utc("2026-11-27T02:05:00"))
    assert points(await mall.balance()) == (205, 0, 0, 0)

    # New Year's Eve: 23:00 local (15:00 UTC) is still 2026, 00:30 local (16:30 UTC) is 2027.
    # 100 CNY × 1.1 = 110 each (a Thursday and a Friday: no campaign).
    assert (await mall.buy("o7", "2026-12-31T15:00:00", {"books": "100.00"}))["total"] == 110
    assert (await mall.buy("o8", "2026-12-31T16:30:00", {"books": "100.00"}))["total"] == 110
    await mall.run(schedule.mature, utc("2027-01-08T00:00:00"))
    # Mon 8 Feb 2027: 1000 CNY × 1.1 = 1100.
    assert (await mall.buy("o6", "2027-02-08T04:00:00", {"apparel": "1000.00"}))["total"] == 1100
    await mall.run(schedule.mature, utc("2027-02-15T04:00:00"))
    assert points(await mall.balance()) == (205 + 110 + 110 + 1100, 0, 0, 0)
    # The 2026 points (o5's 205 + o7's 110) expire at 2028-01-01 00:00 local.
    balance = await mall.balance()
    assert balance["nextExpiryAt"] == "2027-12-31T16:00:00.000+00:00"
    assert balance["nextExpiryPoints"] == 315

    # The expire job a second before the year turns in Shanghai takes nothing; at the instant
    # it takes the 315 of 2026 and leaves the 1210 of 2027 (o8 + o6), due at the end of 2028.
    assert await mall.run(schedule.expire, END_2027 - timedelta(seconds=1)) == 0
    assert points(await mall.balance()) == (1525, 0, 0, 0)
    assert await mall.run(schedule.expire, END_2027) == 2
    me = await mall.me()
    assert me["balance"]["available"] == 1210
    assert me["balance"]["nextExpiry"] == {
        "points": 1210,
        "expiresAt": "2028-12-31T16:00:00.000+00:00",
    }
    assert await mall.run(schedule.expire, END_2027 + timedelta(days=1)) == 0
    await assert_invariants(runtime.mongo)
