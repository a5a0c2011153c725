"""Who may read what: public catalog and program, member-only `me` and mutations, own objects only."""

from __future__ import annotations

import pytest

from app.auth import PrincipalKind
from app.ledger import spend
from app.rewards import Reward
from graphql_schema.ids import to_global_id
from tests.api.gql import (
    ask,
    codes,
    data,
    earn_points,
    make_member,
    make_program,
    make_reward,
    member_token,
)

MEMBER_QUERIES = {
    "profile": "{ me { name } }",
    "balance": "{ me { balance { available } } }",
    "expiringPoints": "{ me { expiringPoints { points } } }",
    "history": "{ me { history(first: 1) { edges { cursor } } } }",
    "redemptions": "{ me { redemptions(first: 1) { edges { cursor } } } }",
}
MEMBER_MUTATIONS = {
    "updateProfile": 'mutation { updateProfile(input: {name: "X"}) { userErrors { code } } }',
    "redeemReward": """mutation { redeemReward(input: {rewardId: "UmV3YXJkOnJfeA",
      idempotencyKey: "k"}) { userErrors { code } } }""",
}
ALL_MEMBER_FIELDS = {**MEMBER_QUERIES, **MEMBER_MUTATIONS}


@pytest.fixture
async def members(runtime, clock) -> tuple[str, str]:
    await make_program(runtime, clock)
    await make_reward(runtime, Reward(id="r_x", name="X", points_price=10))
    alice = await make_member(runtime, clock, name="Alice")
    bob = await make_member(runtime, clock, name="Bob")
    await earn_points(runtime, clock, bob, 100, "bob-earn")
    return alice, bob


@pytest.mark.parametrize("field", sorted(ALL_MEMBER_FIELDS))
async def test_member_fields_need_a_token(client, members, field) -> None:
    body = await ask(client, ALL_MEMBER_FIELDS[field])
    assert codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None


@pytest.mark.parametrize("kind", [PrincipalKind.PARTNER, PrincipalKind.ADMIN])
@pytest.mark.parametrize("field", sorted(ALL_MEMBER_FIELDS))
async def test_partner_and_admin_tokens_are_forbidden_on_member_fields(
    client, issuer, members, kind, field
) -> None:
    token = issuer.mint(kind, "ops-1", scopes=["members:read", "members:write"])
    assert codes(await ask(client, ALL_MEMBER_FIELDS[field], token)) == ["FORBIDDEN"]


async def test_program_and_rewards_need_no_token(client, members) -> None:
    body = await ask(
        client, "{ program { name tiers { code } } rewards(first: 5) { edges { node { name } } } }"
    )
    assert data(body)["program"]["name"] == "Test Mall"
    assert data(body)["rewards"]["edges"] == [{"node": {"name": "X"}}]


async def test_node_resolves_the_callers_own_objects(client, runtime, clock, issuer, members):
    alice, _ = members
    await earn_points(runtime, clock, alice, 100, "alice-earn")
    token = member_token(issuer, alice)
    await ask(client, MEMBER_MUTATIONS["redeemReward"], token)
    me = data(
        await ask(
            client,
            """{ me { id history(first: 5) { edges { node { id } } }
        redemptions(first: 5) { edges { node { id } } } } }""",
            token,
        )
    )["me"]
    entry_id = me["history"]["edges"][0]["node"]["id"]
    redemption_id = me["redemptions"]["edges"][0]["node"]["id"]
    query = """query($id: ID!) { node(id: $id) { __typename id
      ... on Member { name } ... on LedgerEntry { points } ... on Redemption { points }
      ... on Reward { name } } }"""
    for global_id, typename in [
        (me["id"], "Member"),
        (entry_id, "LedgerEntry"),
        (redemption_id, "Redemption"),
        (to_global_id("Reward", "r_x"), "Reward"),
    ]:
        node = data(await ask(client, query, token, {"id": global_id}))["node"]
        assert (node["__typename"], node["id"]) == (typename, global_id)


async def test_node_never_leaks_another_members_objects(client, runtime, clock, issuer, members):
    alice, bob = members
    await spend(runtime.mongo, clock, member_id=bob, points=10, idempotency_key="bob-spend")
    bob_token = member_token(issuer, bob)
    await ask(client, MEMBER_MUTATIONS["redeemReward"], bob_token)
    bobs = data(
        await ask(
            client,
            """{ me { id history(first: 5) { edges { node { id } } }
        redemptions(first: 5) { edges { node { id } } } } }""",
            bob_token,
        )
    )["me"]
    ids = [bobs["id"], *(e["node"]["id"] for e in bobs["history"]["edges"])]
    ids += [e["node"]["id"] for e in bobs["redemptions"]["edges"]]
    assert len(ids) == 5
    query = "query($id: ID!) { node(id: $id) { id } }"
    alice_token = member_token(issuer, alice)
    admin_token = issuer.mint(PrincipalKind.ADMIN, "ops-1", scopes=["members:read"])
    for token in (alice_token, admin_token, None):
        for global_id in ids:
            assert data(await ask(client, query, token, {"id": global_id})) == {"node": None}


async def test_a_malformed_node_id_is_bad_input(client, members) -> None:
    body = await ask(client, 'query { node(id: "not-an-id!") { id } }')
    assert codes(body) == ["BAD_USER_INPUT"]
