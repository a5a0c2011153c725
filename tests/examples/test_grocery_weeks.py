"""A grocery shopper's first week of April on examples/grocery.toml, over HTTP, every balance
worked out by hand: the first order's bonus, evening fresh food doubled, big baskets capped per
week, a UnionPay campaign with a control group (its results read back), and two challenges (three
categories in a month, 500 CNY in a quarter). 1 point per 2 CNY, floored per line; no return
window, so points are available at once. Shanghai is UTC+8: 20:30 local is 12:30Z.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from app.auth import PrincipalKind
from app.ledger import verify_balances
from app.partners import register_partner
from app.program import current_program, in_control_group
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, make_member, member_token
from tests.api.test_points_admin import admin
from tests.partners.api import PURCHASE
from tests.processes import JIFEN, jifen_env

PROGRAM = Path(__file__).parents[2] / "examples" / "grocery.toml"
BALANCE = (
    """query($member: MemberRefInput!) { memberBalance(member: $member) { available pending } }"""
)
ME = "{ me { badges { code } challenges { id progress completedAt } } }"
RESULTS = """{ campaignResults(campaignId: "unionpay") {
  audience { members points } control { members points } } }"""


class Till:
    def __init__(self, client, clock, issuer, partner_id: str) -> None:
        self.client, self.clock, self.issuer, self.partner_id = client, clock, issuer, partner_id

    async def buy(
        self,
        member: str,
        order: str,
        when: str,
        lines: list[tuple[str, str, int]],
        pay: str = "cash",
    ) -> dict[str, int]:
        """Lines as (category, amount, quantity) at `when` (UTC); rows summed by rule."""
        self.clock.set(datetime.fromisoformat(when).replace(tzinfo=UTC))
        body = {
            "member": {"id": to_global_id("Member", member)},
            "orderId": order,
            "occurredAt": when + "Z",
            "lines": [
                {"lineId": f"{c}{n}", "sku": c.upper(), "category": c, "quantity": q, "amount": a}
                for n, (c, a, q) in enumerate(lines)
            ],
            "channel": "store",
            "paymentMethod": pay,
        }
        token = self.issuer.mint(PrincipalKind.PARTNER, self.partner_id, scopes=["points:earn"])
        result = data(await ask(self.client, PURCHASE, token, {"input": body}))["recordPurchase"]
        assert result["userErrors"] == [], result
        rows: dict[str, int] = {"total": result["purchase"]["total"]}
        for row in result["purchase"]["breakdown"]:
            rows[row["rule"]] = rows.get(row["rule"], 0) + row["points"]
        return rows

    async def available(self, member: str) -> int:
        token = self.issuer.mint(PrincipalKind.PARTNER, self.partner_id, scopes=["points:read"])
        ref = {"member": {"id": to_global_id("Member", member)}}
        found = data(await ask(self.client, BALANCE, token, ref))["memberBalance"]
        assert found["pending"] == 0  # no return window
        return int(found["available"])


def apply_program(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`jifen program apply examples/grocery.toml` as the operator runs it."""
    command = [JIFEN, "program", "apply", str(PROGRAM)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


async def test_a_grocery_shoppers_first_week(
    client, runtime, clock, issuer, mongo_url, db_name, tmp_path
) -> None:
    clock.set(datetime(2026, 3, 31, tzinfo=UTC))
    applied = apply_program(jifen_env(mongo_url, db_name, tmp_path))
    assert applied.returncode == 0, applied.stderr
    program = await current_program(runtime.mongo)
    [unionpay] = program.campaigns
    partner = await register_partner(
        runtime.mongo, clock, name="Till", scopes=["points:earn", "points:read"], actor="cli:test"
    )
    till = Till(client, clock, issuer, partner.id)
    members = [await make_member(runtime, clock, name=f"M{n}") for n in range(40)]
    ann = next(m for m in members if not in_control_group(unionpay, m))
    bo = next(m for m in members if in_control_group(unionpay, m))  # 20 % held out

    # Wed 1 April 10:00: fresh 30 and dry goods 20: 15 + 10, and 100 for a first order.
    assert await till.buy(
        ann, "a1", "2026-04-01T02:00:00", [("fresh", "30", 1), ("dry", "20", 1)]
    ) == {
        "total": 125,
        "base": 25,
        "rule:welcome": 100,
    }
    # 20:30: 10 fresh items for 40 and 2 dairy for 10, by UnionPay: fresh 20 doubled (40), dairy 5;
    # 12 items: +30; the campaign's 10 % of the base, floored per line: 2 and 0; a third category
    # this month: the explorer challenge's 50.
    assert await till.buy(
        ann, "a2", "2026-04-01T12:30:00", [("fresh", "40", 10), ("dairy", "10", 2)], pay="unionpay"
    ) == {
        "total": 40 + 5 + 30 + 2 + 50,
        "base": 25,
        "rule:evening-fresh": 20,
        "rule:big-basket": 30,
        "campaign:unionpay": 2,
        "challenge:explorer": 50,
    }
    # Thu 20:00: 10 fresh items for 10: 5 doubled, and the week's second big basket.
    assert (await till.buy(ann, "a3", "2026-04-02T12:00:00", [("fresh", "10", 10)]))[
        "total"
    ] == 10 + 30
    # Fri 09:00: dry goods 400 (10 items): 200 and the third big basket (90 this week); 510 CNY
    # this quarter: the 500 challenge's 200.
    assert await till.buy(ann, "a4", "2026-04-03T01:00:00", [("dry", "400", 10)]) == {
        "total": 200 + 30 + 200,
        "base": 200,
        "rule:big-basket": 30,
        "challenge:quarter-500": 200,
    }
    # Sat: a fourth big basket this week gives nothing more (the rule's 30 cut back by its cap).
    assert await till.buy(ann, "a5", "2026-04-04T01:00:00", [("dry", "20", 10)]) == {
        "total": 10,
        "base": 10,
        "rule:big-basket": 30,
        "cap:rule:big-basket": -30,
    }
    # Mon 6 April: a new week, a new basket bonus.
    assert (await till.buy(ann, "a6", "2026-04-06T01:00:00", [("dry", "20", 10)]))[
        "total"
    ] == 10 + 30
    assert await till.available(ann) == 125 + 127 + 40 + 430 + 10 + 40

    # Bo is in the campaign's control group: his UnionPay order gets nothing from it.
    assert await till.buy(
        bo, "b1", "2026-04-06T02:00:00", [("fresh", "40", 1)], pay="unionpay"
    ) == {
        "total": 20 + 100,
        "base": 20,
        "rule:welcome": 100,
    }
    assert await till.available(bo) == 120
    results = data(await ask(client, RESULTS, admin(issuer, "reports:read")))["campaignResults"]
    assert results == {
        "audience": {"members": 1, "points": 2},
        "control": {"members": 1, "points": 0},
    }

    me = data(await ask(client, ME, member_token(issuer, ann)))["me"]
    assert me["badges"] == [{"code": "explorer"}]
    progress = {c["id"]: c["progress"] for c in me["challenges"]}
    assert progress == {"explorer": "3", "quarter-500": "510"}
    assert await verify_balances(runtime.mongo) == []
