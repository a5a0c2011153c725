"""A coffee chain's March on examples/coffee-chain.toml, over HTTP: conditions on channel,
weekday, time of day, payment method and the member's purchase count; a win-back campaign for a
segment; a monthly challenge with a badge; and a referral paid once the friend's first purchase
matured. Every balance is worked out by hand below.

Shanghai is UTC+8 all year: 08:30 local is 00:30Z. 2 March 2026 is a Monday.
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

PROGRAM = Path(__file__).parents[2] / "examples" / "coffee-chain.toml"
BALANCE = """query($member: MemberRefInput!) {
  memberBalance(member: $member) { available pending held debt } }"""
ME = """{ me { referral { code } badges { code } challenges { id progress completedAt } } }"""
SEGMENT = """mutation($i: SaveSegmentInput!) { saveSegment(input: $i) {
  segment { id } userErrors { code } } }"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Chain:
    def __init__(self, client, clock, issuer, partner_id: str) -> None:
        self.client, self.clock, self.issuer, self.partner_id = client, clock, issuer, partner_id

    def till(self) -> str:
        scopes = ["points:earn", "points:redeem", "points:read"]
        return self.issuer.mint(PrincipalKind.PARTNER, self.partner_id, scopes=scopes)

    async def buy(
        self, member: str, order: str, when: str, lines: dict[str, str], **facts: str
    ) -> dict[str, int]:
        """An order at `when` (UTC, the clock moves there); its rows summed by rule."""
        self.clock.set(at(when))
        items = [
            {"lineId": c, "sku": c.upper(), "category": c, "quantity": 1, "amount": amount}
            for c, amount in lines.items()
        ]
        body = {
            "member": {"id": to_global_id("Member", member)},
            "orderId": order,
            "occurredAt": when + "Z",
            "lines": items,
            "channel": facts.get("channel", "store"),
            **{k: v for k, v in facts.items() if k != "channel"},
        }
        result = data(await ask(self.client, PURCHASE, self.till(), {"input": body}))
        purchase = result["recordPurchase"]
        assert purchase["userErrors"] == [], purchase
        rows: dict[str, int] = {"total": purchase["purchase"]["total"]}
        for row in purchase["purchase"]["breakdown"]:
            rows[row["rule"]] = rows.get(row["rule"], 0) + row["points"]
        return rows

    async def balance(self, member: str) -> tuple[int, int]:
        found = data(
            await ask(
                self.client,
                BALANCE,
                self.till(),
                {"member": {"id": to_global_id("Member", member)}},
            )
        )["memberBalance"]
        return found["available"], found["pending"]


def apply_program(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JIFEN, "program", "apply", str(PROGRAM)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_coffee_chains_march(
    client, runtime, clock, issuer, mongo_url, db_name, tmp_path
) -> None:
    clock.set(at("2026-03-01T00:00:00"))
    applied = apply_program(jifen_env(mongo_url, db_name, tmp_path))
    assert applied.returncode == 0, applied.stderr
    lapsed = {"id": "lapsed", "name": "Lapsed", "when": {"fact": "days_since_activity", "gte": 60}}
    saved = data(await ask(client, SEGMENT, admin(issuer, "members:write"), {"i": lapsed}))
    assert saved["saveSegment"]["userErrors"] == []
    till = await register_partner(
        runtime.mongo,
        clock,
        name="Till",
        scopes=["points:earn", "points:redeem", "points:read"],
        actor="cli:test",
    )
    chain = Chain(client, clock, issuer, till.id)
    mia = await make_member(runtime, clock, name="Mia")
    zoe = await make_member(runtime, clock, name="Zoe")
    # Zoe last came in on 20 December: 100 beans then.
    await earn(
        runtime.mongo,
        FrozenClock(at("2025-12-20T04:00:00")),
        member_id=zoe,
        points=100,
        idempotency_key="zoe-december",
    )

    # Mia's five visits. Mon 2 Mar 08:30: coffee 30 in a store before 10:00 on a weekday: 30 + 30.
    assert await chain.buy(mia, "m1", "2026-03-02T00:30:00", {"coffee": "30"}) == {
        "total": 60,
        "base": 30,
        "rule:morning-coffee": 30,
    }
    # Mon 14:00: afternoon, base only. Sat 7 Mar 09:00: a weekend, base only.
    assert (await chain.buy(mia, "m2", "2026-03-02T06:00:00", {"coffee": "25"}))["total"] == 25
    assert (await chain.buy(mia, "m3", "2026-03-07T01:00:00", {"coffee": "20"}))["total"] == 20
    # Tue 10 Mar 09:30 in the mini-program, WeChat Pay: no store, so no morning double; +20.
    assert await chain.buy(
        mia,
        "m4",
        "2026-03-10T01:30:00",
        {"coffee": "18"},
        channel="mini_program",
        paymentMethod="wechat",
    ) == {"total": 38, "base": 18, "rule:wechat-pay": 20}
    # Wed 11 Mar 09:00, store: coffee 40 doubled, pastry 15; her 5th purchase (+50), and her
    # 5th visit of March completes the challenge (+100 and the badge).
    assert await chain.buy(mia, "m5", "2026-03-11T01:00:00", {"coffee": "40", "pastry": "15"}) == {
        "total": 80 + 15 + 50 + 100,
        "base": 55,
        "rule:morning-coffee": 40,
        "rule:every-fifth": 50,
        "challenge:five-visits": 100,
    }
    # At that instant m1 and m2 (2 Mar) have matured, m3–m5 are in their 7-day window.
    assert await chain.balance(mia) == (60 + 25, 20 + 38 + 245)

    # Leo signs up on 3 March with Mia's code; his first purchase (tea 22 on 4 March, 12:00)
    # qualifies (20 CNY or more), the referral pays once it matured on 11 March 12:00.
    clock.set(at("2026-03-03T02:00:00"))
    code = data(await ask(client, ME, member_token(issuer, mia)))["me"]["referral"]["code"]
    signed = await ask(
        client,
        SIGN_UP,
        variables={
            "input": {
                "phone": "138 0013 8555",
                "password": "correct horse",
                "name": "Leo",
                "referralCode": code,
            }
        },
    )
    leo = from_global_id(signed["data"]["signUp"]["member"]["id"], "Member")[1]
    assert (await chain.buy(leo, "l1", "2026-03-04T04:00:00", {"tea": "22"}))["total"] == 22
    clock.set(at("2026-03-11T03:59:00"))
    await referrals(runtime.mongo, clock)  # not matured yet: nothing
    assert await chain.balance(leo) == (0, 22)
    clock.set(at("2026-03-12T00:00:00"))
    await referrals(runtime.mongo, clock)
    assert await chain.balance(leo) == (22 + 150, 0)

    # Zoe, 75 days away, is lapsed: triple on coffee (30 + 60); the next day she is not.
    assert await chain.buy(zoe, "z1", "2026-03-05T07:00:00", {"coffee": "30"}) == {
        "total": 90,
        "base": 30,
        "campaign:win-back": 60,
    }
    assert (await chain.buy(zoe, "z2", "2026-03-06T07:00:00", {"coffee": "30"}))["total"] == 30

    # 20 March: everything has matured.
    clock.set(at("2026-03-20T00:00:00"))
    assert await chain.balance(mia) == (60 + 25 + 20 + 38 + 245 + 300, 0)
    assert await chain.balance(zoe) == (100 + 90 + 30, 0)
    me = data(await ask(client, ME, member_token(issuer, mia)))["me"]
    assert me["badges"] == [{"code": "regular"}]
    assert [(c["id"], c["progress"]) for c in me["challenges"]] == [("five-visits", "5")]
    assert await verify_balances(runtime.mongo) == []
