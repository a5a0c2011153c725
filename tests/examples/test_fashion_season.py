"""A fashion retailer's May on examples/fashion.toml, over HTTP, every balance worked out by hand:
a new-season campaign for the `vip` segment, a welcome-back bonus for the `dormant` segment, a
rule on app orders of 1,000 CNY or more, a yearly spend challenge with a badge, and a referral
paid once the friend's first order passed its 14-day return window. Shanghai is UTC+8.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from app.auth import PrincipalKind
from app.clock import FrozenClock
from app.ledger import earn, verify_balances
from app.partners import register_partner
from app.worker import referrals
from graphql_schema.ids import from_global_id, to_global_id
from tests.api.gql import ask, data, make_member, member_token
from tests.api.test_points_admin import admin
from tests.api.test_sign_in import SIGN_UP
from tests.partners.api import PURCHASE
from tests.processes import JIFEN, jifen_env

PROGRAM = Path(__file__).parents[2] / "examples" / "fashion.toml"
BALANCE = (
    """query($member: MemberRefInput!) { memberBalance(member: $member) { available pending } }"""
)
SEGMENT = """mutation($i: SaveSegmentInput!) { saveSegment(input: $i) { userErrors { code } } }"""
ME = "{ me { referral { code } badges { code } } }"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def apply_program(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`jifen program apply examples/fashion.toml` as the operator runs it."""
    command = [JIFEN, "program", "apply", str(PROGRAM)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


async def test_a_fashion_retailers_may(
    client, runtime, clock, issuer, mongo_url, db_name, tmp_path
) -> None:
    clock.set(utc("2026-05-01T00:00:00"))
    applied = apply_program(jifen_env(mongo_url, db_name, tmp_path))
    assert applied.returncode == 0, applied.stderr
    operator = admin(issuer, "members:write")
    for segment in (
        {"id": "vip", "name": "VIP", "when": {"fact": "lifetime_points", "gte": 1000}},
        {"id": "dormant", "name": "Dormant", "when": {"fact": "days_since_activity", "gte": 90}},
    ):
        saved = data(await ask(client, SEGMENT, operator, {"i": segment}))["saveSegment"]
        assert saved["userErrors"] == []
    partner = await register_partner(
        runtime.mongo, clock, name="Shop", scopes=["points:earn", "points:read"], actor="cli:test"
    )

    def till(*scopes: str) -> str:
        return issuer.mint(PrincipalKind.PARTNER, partner.id, scopes=list(scopes))

    async def buy(
        member: str,
        order: str,
        when: str,
        lines: list[tuple[str, str, str]],
        channel: str = "store",
    ) -> dict[str, int]:
        clock.set(utc(when))
        body = {
            "member": {"id": to_global_id("Member", member)},
            "orderId": order,
            "occurredAt": when + "Z",
            "lines": [
                {
                    "lineId": f"L{n}",
                    "sku": sku,
                    "category": category,
                    "quantity": 1,
                    "amount": amount,
                }
                for n, (sku, category, amount) in enumerate(lines)
            ],
            "channel": channel,
        }
        result = data(await ask(client, PURCHASE, till("points:earn"), {"input": body}))[
            "recordPurchase"
        ]
        assert result["userErrors"] == [], result
        rows: dict[str, int] = {"total": result["purchase"]["total"]}
        for row in result["purchase"]["breakdown"]:
            rows[row["rule"]] = rows.get(row["rule"], 0) + row["points"]
        return rows

    async def balance(member: str) -> tuple[int, int]:
        ref = {"member": {"id": to_global_id("Member", member)}}
        found = data(await ask(client, BALANCE, till("points:read"), ref))["memberBalance"]
        return found["available"], found["pending"]

    vivian = await make_member(runtime, clock, name="Vivian")
    dan = await make_member(runtime, clock, name="Dan")
    await earn(
        runtime.mongo,
        FrozenClock(utc("2026-04-20T04:00:00")),
        member_id=vivian,
        points=1500,
        idempotency_key="v-april",
    )
    await earn(
        runtime.mongo,
        FrozenClock(utc("2026-01-15T04:00:00")),
        member_id=dan,
        points=100,
        idempotency_key="d-january",
    )

    # Vivian (VIP: 1,500 ever) in the app, 4 May: an SS26 dress 800 and a tee 300, 1,100 in all:
    # base 1,100; +10 % on both lines (80 + 30); the dress doubled for VIPs (+800).
    assert await buy(
        vivian,
        "v1",
        "2026-05-04T06:00:00",
        [("SS26-DRESS", "apparel", "800"), ("TEE", "apparel", "300")],
        channel="app",
    ) == {
        "total": 1100 + 110 + 800,
        "base": 1100,
        "rule:big-app-order": 110,
        "campaign:new-season-vip": 800,
    }
    # 10 May in a store: an SS26 coat 1,000, doubled; 2,100 spent this year: +500 and the badge.
    assert await buy(vivian, "v2", "2026-05-10T06:00:00", [("SS26-COAT", "apparel", "1000")]) == {
        "total": 1000 + 1000 + 500,
        "base": 1000,
        "campaign:new-season-vip": 1000,
        "challenge:year-2000": 500,
    }
    # Dan, away since 15 January (110 days): dormant, 200 on his way back; the next day he is not.
    assert await buy(dan, "d1", "2026-05-05T06:00:00", [("RUN-1", "shoes", "400")]) == {
        "total": 600,
        "base": 400,
        "rule:welcome-back": 200,
    }
    assert (await buy(dan, "d2", "2026-05-06T06:00:00", [("SOCKS", "shoes", "100")]))[
        "total"
    ] == 100

    # Eve signs up with Vivian's code on 6 May; her first order, 350 on 7 May, qualifies (300 or
    # more); it matures on 21 May, and the referral pays both the next day.
    code = data(await ask(client, ME, member_token(issuer, vivian)))["me"]["referral"]["code"]
    signed = await ask(
        client,
        SIGN_UP,
        variables={
            "input": {
                "phone": "139 0013 9001",
                "password": "correct horse",
                "name": "Eve",
                "referralCode": code,
            }
        },
    )
    eve = from_global_id(signed["data"]["signUp"]["member"]["id"], "Member")[1]
    assert (await buy(eve, "e1", "2026-05-07T06:00:00", [("TOTE", "bags", "350")]))["total"] == 350
    clock.set(utc("2026-05-22T00:00:00"))
    await referrals(runtime.mongo, clock)

    clock.set(utc("2026-06-01T00:00:00"))  # everything has matured
    assert await balance(vivian) == (1500 + 2010 + 2500 + 500, 0)
    assert await balance(dan) == (100 + 600 + 100, 0)
    assert await balance(eve) == (350 + 300, 0)
    me = data(await ask(client, ME, member_token(issuer, vivian)))["me"]
    assert me["badges"] == [{"code": "fashionista"}]
    assert await verify_balances(runtime.mongo) == []
