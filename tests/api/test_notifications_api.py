"""Devices, consent and the in-app notification list over HTTP, with real member tokens."""

from __future__ import annotations

import httpx
import pytest

from app.ledger import Rolling
from app.messaging import Links, route_new
from app.notifications import issue_expiry_warnings
from app.runtime import Runtime
from tests.api.gql import ask, codes, data, earn_points, make_member, make_program, member_token

REGISTER = "mutation($t: String!) { registerPushToken(input: {platform: IOS, token: $t}) { ok userErrors { code field } } }"
CONSENT = "mutation($g: Boolean!) { setNotificationConsent(input: {granted: $g}) { ok userErrors { code } } }"
LIST = """query($after: String) { me { notifications(first: 2, after: $after) {
  edges { cursor node { id kind points daysLeft readAt } } pageInfo { hasNextPage endCursor } } } }"""
LINKS = Links(b"k" * 32, "http://127.0.0.1")
MARK = "mutation($ids: [ID!]) { markNotificationsRead(input: {ids: $ids}) { marked userErrors { code } } }"


async def test_a_consenting_member_with_a_device_gets_pushes_and_reads_the_list(
    client: httpx.AsyncClient, runtime: Runtime, issuer, clock
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = member_token(issuer, member)
    assert data(await ask(client, REGISTER, token, {"t": "apns-device-token-1"}))[
        "registerPushToken"
    ] == {"ok": True, "userErrors": []}
    bad = data(await ask(client, REGISTER, token, {"t": "x"}))["registerPushToken"]
    assert bad == {
        "ok": False,
        "userErrors": [{"code": "INVALID_INPUT", "field": ["input", "token"]}],
    }
    assert data(await ask(client, CONSENT, token, {"g": True}))["setNotificationConsent"]["ok"]

    for days in (3, 20, 25):
        await earn_points(runtime, clock, member, 100 + days, f"e{days}", policy=Rolling(days=days))
    assert await issue_expiry_warnings(runtime.mongo, clock) == 3
    await route_new(runtime.mongo, clock, LINKS)
    pushes = {"member_id": member, "channel": "push", "status": {"$ne": "suppressed"}}
    assert await runtime.mongo["messages"].count_documents(pushes) == 3

    first = data(await ask(client, LIST, token))["me"]["notifications"]
    assert [edge["node"]["points"] for edge in first["edges"]] != []
    assert first["pageInfo"]["hasNextPage"]
    second = data(await ask(client, LIST, token, {"after": first["pageInfo"]["endCursor"]}))["me"][
        "notifications"
    ]
    points = sorted(edge["node"]["points"] for edge in first["edges"] + second["edges"])
    assert points == [103, 120, 125]
    assert not second["pageInfo"]["hasNextPage"]

    one = first["edges"][0]["node"]["id"]
    assert (
        data(await ask(client, MARK, token, {"ids": [one]}))["markNotificationsRead"]["marked"] == 1
    )
    assert data(await ask(client, MARK, token, {}))["markNotificationsRead"]["marked"] == 2


@pytest.fixture
async def alice_and_bob(runtime: Runtime, clock) -> tuple[str, str]:
    await make_program(runtime, clock)
    return (
        await make_member(runtime, clock, name="Alice"),
        await make_member(runtime, clock, name="Bob"),
    )


@pytest.fixture
async def alices_warning(client, runtime: Runtime, issuer, clock, alice_and_bob) -> dict:
    """Alice's expiry warning as she lists it."""
    alice, _ = alice_and_bob
    await earn_points(runtime, clock, alice, 100, "e1", policy=Rolling(days=3))
    await issue_expiry_warnings(runtime.mongo, clock)
    alice_list = data(await ask(client, LIST, member_token(issuer, alice)))["me"]["notifications"]
    node: dict = alice_list["edges"][0]["node"]
    return node


async def test_another_members_notifications_cannot_be_marked(
    client: httpx.AsyncClient, issuer, alice_and_bob, alices_warning
) -> None:
    _, bob = alice_and_bob
    alice_id = alices_warning["id"]
    assert (
        data(await ask(client, MARK, member_token(issuer, bob), {"ids": [alice_id]}))[
            "markNotificationsRead"
        ]["marked"]
        == 0
    )
    assert (
        data(await ask(client, LIST, member_token(issuer, bob)))["me"]["notifications"]["edges"]
        == []
    )
    assert codes(await ask(client, MARK, None, {})) == ["UNAUTHENTICATED"]


async def test_without_consent_the_push_is_suppressed(
    client: httpx.AsyncClient, runtime: Runtime, issuer, clock
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = member_token(issuer, member)
    await ask(client, REGISTER, token, {"t": "fcm-device-token-1"})
    await ask(client, CONSENT, token, {"g": False})
    await earn_points(runtime, clock, member, 100, "e1", policy=Rolling(days=3))
    await issue_expiry_warnings(runtime.mongo, clock)
    await route_new(runtime.mongo, clock, LINKS)
    [push] = [d async for d in runtime.mongo["messages"].find({"channel": "push"})]
    assert (push["status"], push["reason"]) == ("suppressed", "consent")


async def test_a_device_token_belongs_to_the_member_who_registered_it_last(
    client: httpx.AsyncClient, runtime: Runtime, issuer, clock, alice_and_bob
) -> None:
    alice, bob = alice_and_bob
    for member in (alice, bob):
        await ask(client, CONSENT, member_token(issuer, member), {"g": True})
        await earn_points(runtime, clock, member, 100, f"e-{member}", policy=Rolling(days=3))
    await ask(client, REGISTER, member_token(issuer, alice), {"t": "apns-shared-phone"})
    # Bob registers the same device token (a phone that changed hands, or a copied token).
    moved = data(await ask(client, REGISTER, member_token(issuer, bob), {"t": "apns-shared-phone"}))
    assert moved["registerPushToken"] == {"ok": True, "userErrors": []}

    await issue_expiry_warnings(runtime.mongo, clock)
    await route_new(runtime.mongo, clock, LINKS)
    queued = {"channel": "push", "status": "queued"}
    pushes = [d async for d in runtime.mongo["messages"].find(queued)]
    devices = {p["member_id"]: [d["token"] for d in p["devices"]] for p in pushes}
    assert devices == {bob: ["apns-shared-phone"]}
    # Alice no longer holds it, so she cannot unregister Bob's device either.
    unregister = 'mutation { unregisterPushToken(input: {token: "apns-shared-phone"}) { ok } }'
    assert not data(await ask(client, unregister, member_token(issuer, alice)))[
        "unregisterPushToken"
    ]["ok"]
    assert data(await ask(client, unregister, member_token(issuer, bob)))["unregisterPushToken"][
        "ok"
    ]


async def test_node_resolves_the_members_own_notification_only(
    client: httpx.AsyncClient, issuer, alice_and_bob, alices_warning
) -> None:
    alice, bob = alice_and_bob
    node = alices_warning
    query = "query($id: ID!) { node(id: $id) { id ... on Notification { kind points } } }"
    own = data(await ask(client, query, member_token(issuer, alice), {"id": node["id"]}))
    assert own["node"] == {"id": node["id"], "kind": node["kind"], "points": node["points"]}
    other = data(await ask(client, query, member_token(issuer, bob), {"id": node["id"]}))
    assert other["node"] is None
