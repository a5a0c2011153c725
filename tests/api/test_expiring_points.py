"""One count of expiring points over the API: `balance.nextExpiry`, `expiringPoints` and the expiry
warnings of the `expiryWarnings` subscription agree, whatever the member's lots are (pending, held,
under an inactivity policy, several at one instant) and however long since anything touched them.

What is counted is the member's available, unreserved points (see app/ledger/expiring.py);
`expiringPoints(includePending, includeHeld)` also counts the others when asked.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import connect

from app.clock import FrozenClock
from app.ledger import Inactivity, Rolling, hold, spend
from app.notifications import issue_expiry_warnings
from app.runtime import Runtime
from tests.api.gql import earn_points, make_member, make_program, member_token
from tests.api.test_websocket_lifetime import server  # noqa: F401  (a uvicorn-served app)

SHOWN = """query($pending: Boolean! = false, $held: Boolean! = false) { me {
  balance { nextExpiry { points expiresAt daysLeft } }
  expiringPoints(withinDays: 60, includePending: $pending, includeHeld: $held) {
    points expiresAt daysLeft } } }"""
WARNINGS = "subscription { expiryWarnings { points expiresAt daysLeft } }"


async def _shown(url: str, token: str, **counting: bool) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            url.replace("ws://", "http://"),
            json={"query": SHOWN, "variables": counting},
            headers={"authorization": f"Bearer {token}"},
        )
    body = answer.json()
    assert "errors" not in body, body
    me: dict[str, Any] = body["data"]["me"]
    return me


async def _warned(url: str, token: str, count: int) -> list[dict[str, Any]]:
    """The first `count` warnings the subscription sends (those already issued, soonest first)."""
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": WARNINGS}}))
        found = []
        while len(found) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["type"] == "next", message
            found.append(message["payload"]["data"]["expiryWarnings"])
        return found


def _row(points: int, at: datetime, now: datetime) -> dict[str, Any]:
    days = -(-(at - now) // timedelta(days=1))
    return {"points": points, "expiresAt": at.isoformat(timespec="milliseconds"), "daysLeft": days}


async def _agree(url: str, token: str, runtime: Runtime, clock: FrozenClock) -> list[dict]:
    """The rows expiringPoints shows, after checking that nextExpiry is its first and that the
    subscription warns about exactly those rows, with the same numbers."""
    await issue_expiry_warnings(runtime.mongo, clock, leads=(60,))
    shown = await _shown(url, token)
    rows = shown["expiringPoints"]
    assert shown["balance"]["nextExpiry"] == (rows[0] if rows else None)
    assert await _warned(url, token, len(rows)) == rows
    return rows


async def _served_member(server, clock) -> tuple[str, Runtime, str]:  # noqa: F811
    """The served app's address and runtime, and a member of its program."""
    url, runtime = server
    await make_program(runtime, clock)
    return url, runtime, await make_member(runtime, clock)


async def test_pending_points_are_left_out_of_all_three_alike(server, clock) -> None:  # noqa: F811
    url, runtime, member = await _served_member(server, clock)
    token = member_token(runtime.issuer, member)
    now = clock.now()
    await earn_points(runtime, clock, member, 100, "a", policy=Rolling(days=20))
    await earn_points(
        runtime,
        clock,
        member,
        50,
        "p",
        policy=Rolling(days=10),
        available_at=now + timedelta(days=7),
    )
    rows = await _agree(url, token, runtime, clock)
    assert rows == [_row(100, now + timedelta(days=20), now)]
    everything = await _shown(url, token, pending=True)
    assert everything["expiringPoints"] == [
        _row(50, now + timedelta(days=10), now),
        _row(100, now + timedelta(days=20), now),
    ]
    assert everything["balance"]["nextExpiry"] == rows[0]  # the argument changes only the list


async def test_held_points_are_left_out_of_all_three_alike(server, clock) -> None:  # noqa: F811
    url, runtime, member = await _served_member(server, clock)
    token = member_token(runtime.issuer, member)
    now = clock.now()
    await earn_points(runtime, clock, member, 100, "a", policy=Rolling(days=10))
    await earn_points(runtime, clock, member, 100, "b", policy=Rolling(days=20))
    await hold(
        runtime.mongo,
        clock,
        member_id=member,
        points=150,
        ttl=timedelta(minutes=15),
        idempotency_key="checkout",
    )
    rows = await _agree(url, token, runtime, clock)
    assert rows == [_row(50, now + timedelta(days=20), now)]
    everything = await _shown(url, token, held=True)
    assert everything["expiringPoints"] == [
        _row(100, now + timedelta(days=10), now),
        _row(100, now + timedelta(days=20), now),
    ]


async def test_inactivity_and_dated_points_of_one_instant_are_one_row(server, clock) -> None:  # noqa: F811
    url, runtime, member = await _served_member(server, clock)
    await earn_points(runtime, clock, member, 40, "i1", policy=Inactivity(days=20))
    clock.advance(timedelta(days=2))
    await earn_points(runtime, clock, member, 30, "d", policy=Rolling(days=20))  # renews i1 too
    await earn_points(runtime, clock, member, 20, "d2", policy=Rolling(days=20))
    await spend(runtime.mongo, clock, member_id=member, points=15, idempotency_key="s")
    now = clock.now()
    token = member_token(runtime.issuer, member)
    rows = await _agree(url, token, runtime, clock)
    assert rows == [_row(75, now + timedelta(days=20), now)]  # i1's 40 moved to the earns' instant


async def test_an_expiry_passed_with_nothing_caught_up_is_not_the_next_one(server, clock) -> None:  # noqa: F811
    """No job ran and nothing touched the member since their soonest points' instant passed: the
    account still names that instant, but those points are gone from every count."""
    url, runtime, member = await _served_member(server, clock)
    start = clock.now()
    await earn_points(runtime, clock, member, 100, "a", policy=Rolling(days=10))
    await earn_points(runtime, clock, member, 60, "b", policy=Rolling(days=20))
    clock.advance(timedelta(days=11))
    now = clock.now()
    rows = await _agree(url, member_token(runtime.issuer, member), runtime, clock)
    assert rows == [_row(60, start + timedelta(days=20), now)]


async def test_the_points_of_a_lapsed_hold_count_in_all_three_before_any_job(server, clock) -> None:  # noqa: F811
    """A hold past its TTL reserves nothing, whether or not the release job ran: its points are
    back in nextExpiry, expiringPoints and the warnings at once, alike."""
    url, runtime, member = await _served_member(server, clock)
    await earn_points(runtime, clock, member, 100, "a", policy=Rolling(days=10))
    await earn_points(runtime, clock, member, 100, "b", policy=Rolling(days=20))
    await hold(
        runtime.mongo,
        clock,
        member_id=member,
        points=150,
        ttl=timedelta(minutes=15),
        idempotency_key="checkout",
    )
    clock.advance(timedelta(minutes=16))
    now = clock.now()
    rows = await _agree(url, member_token(runtime.issuer, member), runtime, clock)
    assert rows == [
        _row(100, now - timedelta(minutes=16) + timedelta(days=10), now),
        _row(100, now - timedelta(minutes=16) + timedelta(days=20), now),
    ]
    assert await runtime.mongo["holds"].count_documents({"status": "active"}) == 1  # no job ran
