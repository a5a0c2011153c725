"""A flyer's two years on examples/airline.toml, driven through the partner API over HTTP.

The program (Asia/Shanghai, UTC+8 all year) earns distance × fare-class multiplier (J 1.5,
K 0.5, V 0.25, F 2.5; tax lines nothing), floored per line; Silver (25,000 qualifying miles) earns
× 1.25 and Gold (50,000) × 1.5 on top, floored again; qualifying miles count over 365 local days
and a downgrade is one level per evaluation; every mile expires 18 calendar months after the last
earn or spend (same local wall-clock time). Every flight departs at 10:00 Shanghai (02:00 UTC).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.auth import PrincipalKind
from app.partners import register_partner
from app.worker import expire, tiers
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import member_ref, post_purchase
from tests.processes import JIFEN, jifen_env

EXAMPLE = Path(__file__).parents[2] / "examples" / "airline.toml"
SCOPES = ("points:earn", "points:redeem", "points:read")
ME = """{ me { tier { code } tierProgress { qualifyingPoints }
  balance { available pending held nextExpiry { points expiresAt } } } }"""
HOTEL = """mutation($input: RecordActivityInput!) {
  recordActivity(input: $input) { earn { points } userErrors { code } } }"""
HOLD = """mutation($input: HoldPointsInput!) {
  holdPoints(input: $input) { hold { id points status } userErrors { code } } }"""
CAPTURE = """mutation($input: CapturePointsInput!) {
  capturePoints(input: $input) { entry { points } userErrors { code } } }"""
RELEASE = (
    """mutation($id: ID!) { releasePoints(holdId: $id) { hold { status } userErrors { code } } }"""
)


def _local(instant: str | None) -> str | None:
    return None if instant is None else instant.removesuffix(".000+00:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Flyer:
    """One member, one airline partner, and the clock they share."""

    def __init__(self, client: Any, runtime: Any, clock: Any, issuer: Any) -> None:
        self.client, self.runtime, self.clock, self.issuer = client, runtime, clock, issuer
        self.member, self.partner = "", ""

    async def join(self) -> None:
        self.member = await make_member(self.runtime, self.clock, name="Wang Fang", tier="blue")
        partner = await register_partner(
            self.runtime.mongo, self.clock, name="Air", scopes=[*SCOPES], actor="cli:test"
        )
        self.partner = partner.id

    def till(self) -> str:  # tokens live 15 minutes: a fresh one at each visit
        return self.issuer.mint(PrincipalKind.PARTNER, self.partner, scopes=SCOPES)

    async def fly(self, at: str, order: str, *segments: tuple[str, str], posted: str = "") -> int:
        """Post a flight at `posted` (default: at departure); segments are (fare class, miles)."""
        self.clock.set(utc(posted or at))
        lines = [
            {
                "lineId": f"S{n}",
                "sku": sku,
                "category": "tax" if sku == "TAX" else "flight",
                "quantity": 1,
                "amount": miles,
            }
            for n, (sku, miles) in enumerate(segments, start=1)
        ]
        payload = {
            "member": member_ref(self.member),
            "orderId": order,
            "occurredAt": f"{at}Z",
            "lines": lines,
        }
        result = await post_purchase(self.client, self.till(), payload)
        assert result["userErrors"] == [] and result["purchase"]["status"] == "AVAILABLE"
        return int(result["purchase"]["total"])

    async def call(self, document: str, **variables: Any) -> dict[str, Any]:
        body = data(await ask(self.client, document, self.till(), variables))
        (payload,) = body.values()
        assert payload["userErrors"] == [], payload
        return dict(payload)

    def ref(self) -> dict[str, str]:
        return member_ref(self.member)

    async def me(self) -> dict[str, Any]:
        token = member_token(self.issuer, self.member)
        me: dict[str, Any] = data(await ask(self.client, ME, token))["me"]
        return me

    async def state(self) -> tuple[str, int, int, int, int, str | None, int | None]:
        me = await self.me()
        balance, nxt = me["balance"], me["balance"]["nextExpiry"] or {}
        return (
            me["tier"]["code"],
            me["tierProgress"]["qualifyingPoints"],
            balance["available"],
            balance["pending"],
            balance["held"],
            _local(nxt.get("expiresAt")),
            nxt.get("points"),
        )

    async def job(self, run: Any, at: str) -> int:
        """Run a worker job at `at` until it has nothing more to do; how many it touched."""
        self.clock.set(utc(at))
        done = 0
        while True:
            outcome = await run(self.runtime.mongo, self.clock)
            done += outcome.handled
            if not outcome.more:
                return done


def apply_program(mongo_url: str, db_name: str, tmp_path: Path) -> None:
    env = jifen_env(mongo_url, db_name, tmp_path)
    command = [JIFEN, "program", "apply", str(EXAMPLE), "--note", "airline year"]
    applied = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0 and applied.stdout.startswith("applied version 1,"), applied


async def test_a_flyer_qualifies_spends_keeps_miles_alive_then_drops_and_loses_them(
    client, runtime, clock, issuer, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    apply_program(mongo_url, db_name, tmp_path)
    flyer = Flyer(client, runtime, clock, issuer)
    clock.set(utc("2026-02-01T00:00:00"))
    await flyer.join()

    # 2026 — Blue. 1178 J-class miles × 1.5 = 1767; the 90 of tax earns nothing. No return window.
    assert await flyer.fly("2026-02-01T02:00:00", "PVG-PEK-1", ("J", "1178"), ("TAX", "90")) == 1767
    # Miles expire 18 months after the last activity, at the same local time: 2027-08-01 10:00.
    assert await flyer.state() == ("blue", 1767, 1767, 0, 0, "2027-08-01T02:00:00", 1767)

    # Posted late (9 days after departure, within backdate_days=180): 5000 F miles × 2.5 = 12500.
    late = await flyer.fly(
        "2026-02-20T02:00:00", "PVG-LHR-1", ("F", "5000"), posted="2026-03-01T02:00:00"
    )
    assert late == 12500
    # Its expiry counts from the flight, 2026-02-20 10:00 local, + 18 months: 2027-08-20 10:00.
    assert await flyer.state() == ("blue", 14267, 14267, 0, 0, "2027-08-20T02:00:00", 14267)

    # A partner hotel night: 500 miles, once a local day (per_day=1); the second post is refused.
    clock.set(utc("2026-04-10T06:00:00"))
    hotel = await flyer.call(
        HOTEL, input={"member": flyer.ref(), "activity": "hotel-stay", "reference": "night-1"}
    )
    assert hotel["earn"]["points"] == 500
    clock.set(utc("2026-04-10T15:00:00"))  # 23:00 the same local day
    again = data(
        await ask(
            client,
            HOTEL,
            flyer.till(),
            {"input": {"member": flyer.ref(), "activity": "hotel-stay", "reference": "night-2"}},
        )
    )
    assert again["recordActivity"]["userErrors"][0]["code"] == "ACTIVITY_LIMIT_REACHED"

    # 14267 + 500 = 14767; 4200 F miles × 2.5 = 10500 at Blue takes it to 25267 ≥ 25000: Silver,
    # after the flight (the crossing flight earns at the old tier).
    assert await flyer.fly("2026-05-01T02:00:00", "PVG-SYD-1", ("F", "4200")) == 10500
    # Every mile now expires 18 months after this flight: 2027-11-01 10:00 local.
    assert await flyer.state() == ("silver", 25267, 25267, 0, 0, "2027-11-01T02:00:00", 25267)

    # Silver: K 2000 × 0.5 = 1000 × 1.25 = 1250; V 1600 × 0.25 = 400 × 1.25 = 500. 27017 in all.
    assert await flyer.fly("2026-06-01T02:00:00", "PVG-CTU-1", ("K", "2000"), ("V", "1600")) == 1750
    # A round trip in F, both segments at Silver: 7400 × 2.5 = 18500 × 1.25 = 23125, twice = 46250.
    # 27017 + 46250 = 73267 ≥ 50000: Gold after the flight, which earned at Silver.
    pvg_jfk = (("F", "7400"), ("F", "7400"))
    assert await flyer.fly("2026-06-15T02:00:00", "PVG-JFK-PVG", *pvg_jfk) == 46250
    assert (await flyer.state())[:3] == ("gold", 73267, 73267)
    # Gold, posted 10 days late: J 2000 × 1.5 = 3000 × 1.5 = 4500; K 1178 × 0.5 = 589 × 1.5 =
    # 883.5, floored to 883. 5383, so 78650 in all; the miles' clock restarts at the departure
    # (2026-07-10), not at the posting: everything expires 2028-01-10 10:00 local.
    gold = await flyer.fly(
        "2026-07-10T02:00:00",
        "PVG-HKG-1",
        ("J", "2000"),
        ("K", "1178"),
        posted="2026-07-20T02:00:00",
    )
    assert gold == 5383
    assert await flyer.state() == ("gold", 78650, 78650, 0, 0, "2028-01-10T02:00:00", 78650)

    # 2027-01-20: an award seat held (min 5000, steps of 500) and then given up: released.
    clock.set(utc("2027-01-20T02:00:00"))
    odd = {"member": flyer.ref(), "points": 20250, "orderId": "AWD-1", "idempotencyKey": "h0"}
    refused = data(await ask(client, HOLD, flyer.till(), {"input": odd}))["holdPoints"]
    assert refused["userErrors"] == [{"code": "INVALID_INPUT"}]  # 20250 is not a step of 500
    seat = {"member": flyer.ref(), "points": 20000, "orderId": "AWD-1", "idempotencyKey": "h1"}
    hold = (await flyer.call(HOLD, input=seat))["hold"]
    assert await flyer.state() == ("gold", 78650, 58650, 0, 20000, "2028-01-10T02:00:00", 58650)
    assert (await flyer.call(RELEASE, id=hold["id"]))["hold"]["status"] == "RELEASED"
    # A hold and its release are not activity: the expiry stays at 2028-01-10.
    assert await flyer.state() == ("gold", 78650, 78650, 0, 0, "2028-01-10T02:00:00", 78650)

    # 2027-02-01 (month 12): an award seat paid with 45000 miles, held then captured. 78650 −
    # 45000 = 33650 left; the spend restarts the clock: they now expire 2028-08-01 10:00 local.
    clock.set(utc("2027-02-01T02:00:00"))
    seat = {"member": flyer.ref(), "points": 45000, "orderId": "AWD-2", "idempotencyKey": "h2"}
    hold = (await flyer.call(HOLD, input=seat))["hold"]
    captured = await flyer.call(CAPTURE, input={"holdId": hold["id"], "idempotencyKey": "c2"})
    assert captured["entry"]["points"] == -45000
    assert (await flyer.state())[2:] == (33650, 0, 0, "2028-08-01T02:00:00", 33650)

    # The tiers job reviews a member when their oldest qualifying miles leave the 365-day window.
    # As the flights of Feb-Jun 2026 leave, 76883, 64383, 63883, 53383 and then 46250 + 5383 =
    # 51633 stay ≥ 50000: still Gold on 2027-06-14, so those reviews change nothing.
    assert await flyer.job(tiers, "2027-06-14T02:00:00") == 0
    assert (await flyer.state())[:2] == ("gold", 51633)
    # 2027-06-16: the round trip (2026-06-15) has left too: 5383 qualifying miles, below Silver's
    # 25000, but one level per evaluation (max_levels_down=1): Gold → Silver only.
    assert await flyer.job(tiers, "2027-06-16T02:00:00") == 1
    assert (await flyer.state())[:2] == ("silver", 5383)
    assert await flyer.job(tiers, "2027-06-16T08:00:00") == 0  # once a local day
    # 2027-07-11: the last flight has left (it counts on its departure day, 2026-07-10, not on
    # its posting day): 0 qualifying miles, Silver → Blue.
    assert await flyer.job(tiers, "2027-07-11T02:00:00") == 1
    assert await flyer.state() == ("blue", 0, 33650, 0, 0, "2028-08-01T02:00:00", 33650)

    # 2028-01-11: 18 months after the last earn (2028-01-10) and long past the first earn's
    # (2027-08-01): nothing expires, the spend at month 12 keeps all 33650 miles alive.
    assert await flyer.job(expire, "2028-01-11T02:00:00") == 0
    assert (await flyer.state())[2] == 33650
    # 18 months with no activity after the spend end at 2028-08-01 10:00 local to the second.
    assert await flyer.job(expire, "2028-08-01T01:59:59") == 0
    assert (await flyer.state())[2] == 33650
    # The award took the lots in issue order: 1767 + 12500 + 500 + 10500 + 1750 = 27017, then
    # 17983 of the round trip's 46250; its 28267 and the last flight's 5383 expire: 2 lots.
    assert await flyer.job(expire, "2028-08-01T02:00:00") == 2
    assert await flyer.state() == ("blue", 0, 0, 0, 0, None, None)
