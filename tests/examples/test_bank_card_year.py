"""A bank card cardholder's 26 months on examples/bank-card.toml, through the partner API.

The card system posts each month's statement as one recordPurchase (1 point per 20 CNY floored per
line, 5× on dining, cash advances, fees and interest earn nothing), refunds dining lines, lets the
cardholder pay part of a purchase with points, and the worker expires each month's points at the
end of the 24th month after it (local midnight in Asia/Shanghai, UTC+8: "start of 2028-02-01"
is 2028-01-31T16:00Z). occurredAt is sent in UTC; the month that counts is Shanghai's.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from app.auth import PrincipalKind
from app.partners import register_partner
from app.worker import schedule
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import CAPTURE, HOLD, QUOTE, balance, member_ref, post_purchase, post_refund
from tests.processes import JIFEN, jifen_env

BANK = Path(__file__).parents[2] / "examples" / "bank-card.toml"
SCOPES = ["points:earn", "points:redeem", "points:read"]
ME = """query($kind: LedgerEntryKind!) {
  me { tier { code } history(first: 5, kinds: [$kind]) { edges { node { kind points } } } }
}"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Card:
    """The card system's calls for one cardholder, and the worker's jobs, on the test's clock."""

    def __init__(self, client, runtime, clock, issuer, partner: str, member: str) -> None:
        self.client, self.runtime, self.clock = client, runtime, clock
        self.issuer, self.partner, self.member = issuer, partner, member

    @property
    def token(self) -> str:
        """Minted at the call, as the card system does: tokens are short-lived."""
        return str(self.issuer.mint(PrincipalKind.PARTNER, self.partner, scopes=tuple(SCOPES)))

    async def post(self, order: str, when: str, *lines: tuple[str, str], **extra: Any) -> Any:
        body = {
            "member": member_ref(self.member),
            "orderId": order,
            "occurredAt": when + "Z",
            "lines": [
                {
                    "lineId": f"L{n}",
                    "sku": category.upper(),
                    "category": category,
                    "quantity": 1,
                    "amount": amount,
                }
                for n, (category, amount) in enumerate(lines, start=1)
            ],
            **extra,
        }
        return await post_purchase(self.client, self.token, body)

    async def earned(self, order: str, when: str, *lines: tuple[str, str], **extra: Any) -> Any:
        result = await self.post(order, when, *lines, **extra)
        assert result["userErrors"] == [], result
        by_line: dict[str, int] = {}
        for row in result["purchase"]["breakdown"]:
            by_line[row["lineId"]] = by_line.get(row["lineId"], 0) + row["points"]
        return [by_line[f"L{n}"] for n in range(1, len(lines) + 1)]

    async def refund(self, order: str, refund_id: str, line: str) -> tuple[int, int]:
        body = {"orderId": order, "refundId": refund_id, "lines": [{"lineId": line, "quantity": 1}]}
        refund = (await post_refund(self.client, self.token, body))["refund"]
        return refund["pointsReversed"], refund["pointsReturned"]

    async def gql(self, query: str, variables: dict[str, Any]) -> Any:
        return data(await ask(self.client, query, self.token, variables))

    async def balance(self) -> tuple[int, int, int]:
        found = await balance(self.client, self.token, self.member)
        assert found["debt"] == 0
        return found["available"], found["pending"], found["held"]

    async def next_expiry(self) -> tuple[str | None, int | None]:
        query = "query($m: MemberRefInput!) { memberBalance(member: $m) { nextExpiryAt nextExpiryPoints } }"
        found = (await self.gql(query, {"m": member_ref(self.member)}))["memberBalance"]
        return found["nextExpiryAt"], found["nextExpiryPoints"]

    async def me(self, kind: str = "ADJUST") -> tuple[str, list[int]]:
        """The member's own view: tier, and the points of their latest entries of `kind`."""
        token = member_token(self.issuer, self.member)
        found = data(await ask(self.client, ME, token, {"kind": kind}))["me"]
        return found["tier"]["code"], [edge["node"]["points"] for edge in found["history"]["edges"]]

    async def jobs(self, when: str) -> None:
        """The worker's passes at `when`, each until it has nothing more to do."""
        self.clock.set(at(when))
        for job in (schedule.mature, schedule.release_holds, schedule.expire, schedule.tiers):
            while (await job(self.runtime.mongo, self.clock)).more:
                pass


async def test_a_cardholders_26_months_on_the_bank_card(
    client, runtime, clock, issuer, mongo_url, db_name, tmp_path
) -> None:
    env = jifen_env(mongo_url, db_name, tmp_path)
    command = [JIFEN, "program", "apply", str(BANK)]
    run = partial(subprocess.run, capture_output=True, text=True, env=env, timeout=120)
    applied = await asyncio.to_thread(run, command)
    assert applied.returncode == 0, applied.stderr
    partner = await register_partner(
        runtime.mongo, clock, name="Card system", scopes=SCOPES, actor="cli:test"
    )
    holder = await make_member(runtime, clock, name="Wang Fang", tier="classic")
    card = Card(client, runtime, clock, issuer, partner.id, holder)

    # 2026-01-15: January's statement. floor(388/20) = 19 × 5 (dining) = 95; floor(399/20) = 19;
    # 20000/20 = 1000; cash advance, fee and interest are excluded: 0. In all 1114, expiring at the
    # end of January 2028 (the 24th month after January 2026): 2028-02-01 00:00 Shanghai.
    january = [
        ("dining", "388"),
        ("groceries", "399"),
        ("travel", "20000"),
        ("cash-advance", "5000"),
        ("fee", "50"),
        ("interest", "12.34"),
    ]
    assert await card.earned("2026-01", "2026-01-15T04:00:00", *january) == [95, 19, 1000, 0, 0, 0]
    assert await card.balance() == (1114, 0, 0)
    assert await card.next_expiry() == ("2028-01-31T16:00:00.000+00:00", 1114)

    # The daily cap, on a second cardholder: a 2,100,000 CNY purchase earns 105,000, capped at
    # 100,000 for the Shanghai day, and those qualifying points make her platinum (≥ 50,000) at
    # once. A dinner the same local day: 19 × 5 = 95 × 1.5 = 142, all above the cap: 0. The next
    # local day (00:30 on 16 January Shanghai is 16:30Z on the 15th) it earns its 142.
    spender = await make_member(runtime, clock, name="Zhao Min", tier="classic")
    big = Card(client, runtime, clock, issuer, partner.id, spender)
    assert await big.earned("big-1", "2026-01-15T04:00:00", ("travel", "2100000")) == [100_000]
    assert await big.earned("big-2", "2026-01-15T08:00:00", ("dining", "388")) == [0]
    clock.set(at("2026-01-16T02:00:00"))
    assert await big.earned("big-3", "2026-01-15T16:30:00", ("dining", "388")) == [142]
    assert await big.balance() == (100_142, 0, 0)
    assert (await big.me())[0] == "platinum"

    # February's statement, dated 2026-01-31T16:30Z: still January in UTC but 00:30 on 1 February
    # in Shanghai, so it is February's: it expires at 2028-03-01 Shanghai (2028 is a leap year).
    # dining 200: 10 × 5 = 50; groceries 1000: 50.
    clock.set(at("2026-02-15T09:00:00"))
    feb = await card.earned(
        "2026-02", "2026-01-31T16:30:00", ("dining", "200"), ("groceries", "1000")
    )
    assert feb == [50, 50]
    # 2026-02-20: the dinner is refunded; its 50 points come back from the breakdown, exactly.
    clock.set(at("2026-02-20T09:00:00"))
    assert await card.refund("2026-02", "2026-02-dining", "L1") == (50, 0)
    assert await card.balance() == (1114 + 50, 0, 0)  # January 1114, February 50

    # 2026-03-05: paying part of a 30 CNY dinner with points. Half of 30 CNY is 1500 points at
    # 0.01 CNY, but the cardholder has 1164: 1100 in steps of 100. A 19.99 CNY order allows
    # floor(999.5) = 999 → 900 points, below the minimum of 1000: nothing.
    clock.set(at("2026-03-05T09:00:00"))
    quote = (await card.gql(QUOTE, {"member": member_ref(holder), "amount": "30"}))["quoteOffset"]
    assert (quote["points"], quote["value"], quote["available"]) == (1100, "11", 1164)
    small = await card.gql(QUOTE, {"member": member_ref(holder), "amount": "19.99"})
    assert small["quoteOffset"]["points"] == 0
    hold = {
        "member": member_ref(holder),
        "points": 1100,
        "orderId": "dinner-0305",
        "idempotencyKey": "hold-0305",
    }
    held = (await card.gql(HOLD, {"input": hold}))["holdPoints"]["hold"]
    assert await card.balance() == (64, 0, 1100)
    # The payment settles for 10.50 CNY: 1050 captured, the other 50 go back at once. Spent
    # soonest expiry first: all from January's 1114 (64 left), February's 50 untouched.
    capture = {"holdId": held["id"], "idempotencyKey": "capture-0305", "points": 1050}
    captured = (await card.gql(CAPTURE, {"input": capture}))["capturePoints"]
    assert captured["entry"] == {"kind": "REDEEM", "points": -1050}
    assert await card.balance() == (114, 0, 0)
    assert await card.next_expiry() == ("2028-01-31T16:00:00.000+00:00", 64)
    # The dinner itself earns on its 30 CNY: floor(30/20) = 1 × 5 = 5 (March's, till 2028-04-01).
    dinner = [("dining", "30")]
    assert await card.earned("dinner-0305", "2026-03-05T08:50:00", *dinner, pointsUsed=1050) == [5]

    # 2026-03-10: January's dinner (95) is refunded after January's points were mostly spent: the 64
    # left of that earn go first, the other 31 come from the soonest-expiring points left, February's
    # (50 → 19); March's 5 stay. 119 − 95 = 24.
    clock.set(at("2026-03-10T09:00:00"))
    assert await card.refund("2026-01", "2026-01-dining", "L1") == (95, 0)
    assert await card.balance() == (24, 0, 0)
    assert await card.next_expiry() == ("2028-02-29T16:00:00.000+00:00", 19)

    # 2026-03-20: a transaction of 31 January 23:30 Shanghai (15:30Z) posted 48 days late, within
    # backdate_days = 60: travel 4000 → 200, dining 60 → 3 × 5 = 15; 215 January points that expire
    # with January's. One of 15 January (64 days back) is refused.
    clock.set(at("2026-03-20T09:00:00"))
    late = [("travel", "4000"), ("dining", "60")]
    assert await card.earned("2026-01-late", "2026-01-31T15:30:00", *late) == [200, 15]
    too_late = await card.post("2026-01-later", "2026-01-15T04:00:00", ("groceries", "100"))
    assert too_late["userErrors"][0]["field"] == ["input", "occurredAt"], too_late
    assert await card.balance() == (24 + 215, 0, 0)
    assert await card.next_expiry() == ("2028-01-31T16:00:00.000+00:00", 215)

    # 2026-04-01: the dinner paid with points is refunded: its 5 points are taken back, and the 1050
    # points that paid for it come back (a REVERSAL) as the January points they were, expiring with
    # January's. 239 − 5 + 1050 = 1284.
    clock.set(at("2026-04-01T09:00:00"))
    assert await card.refund("dinner-0305", "dinner-0305-refund", "L1") == (5, 1050)
    assert await card.me("REVERSAL") == ("classic", [1050, -5, -95, -50])
    assert await card.balance() == (1284, 0, 0)
    assert await card.next_expiry() == ("2028-01-31T16:00:00.000+00:00", 215 + 1050)

    # April 2026 to January 2028: 22 statements of groceries 1000 → 50 each, 1100 in all; the
    # worker runs at each month's end (nothing is due before 2028).
    for month in range(22):
        year, month0 = divmod(2026 * 12 + 3 + month, 12)
        when = f"{year}-{month0 + 1:02d}-10T04:00:00"
        clock.set(at(when.replace("T04", "T09")))
        assert await card.earned(f"{year}-{month0 + 1:02d}", when, ("groceries", "1000")) == [50]
        await card.jobs(f"{year}-{month0 + 1:02d}-20T00:00:00")
    assert await card.balance() == (1284 + 1100, 0, 0)

    # One second before 2028-02-01 Shanghai nothing expires; at it, January 2026's: the late
    # posting's 215 and the 1050 the dinner's refund gave back (the rest went on the refund).
    await card.jobs("2028-01-31T15:59:59")
    assert await card.balance() == (2384, 0, 0)
    assert await card.next_expiry() == ("2028-01-31T16:00:00.000+00:00", 1265)
    await card.jobs("2028-01-31T16:00:00")
    assert await card.balance() == (2384 - 1265, 0, 0)
    assert await card.me("EXPIRE") == ("classic", [-1050, -215])
    # Next: February 2026's 19 at 2028-03-01 Shanghai (March 2026's lot was refunded to nothing).
    assert await card.next_expiry() == ("2028-02-29T16:00:00.000+00:00", 19)
    await card.jobs("2028-02-29T15:59:59")
    assert await card.balance() == (1119, 0, 0)
    await card.jobs("2028-02-29T16:00:00")
    # 1100 left: the 22 statements'; April 2026's 50 go next, at 2028-05-01 Shanghai.
    assert await card.balance() == (1119 - 19, 0, 0)
    assert await card.next_expiry() == ("2028-04-30T16:00:00.000+00:00", 50)
    # Still classic: 2384 qualifying points (1114 + 100 − 50 + 5 − 95 + 215 − 5 + 1100, the
    # points given back not counting), far from platinum's 50,000.
    assert await card.me("EXPIRE") == ("classic", [-19, -1050, -215])
