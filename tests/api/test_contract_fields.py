"""Every field of the member-app contract, asked over HTTP with a real member token, answers.

The documents are generated from shared/contract/member-app.graphql itself, so a field added to
the contract is asked here without editing this file.
"""

from __future__ import annotations

from pathlib import Path

from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    build_schema,
    find_breaking_changes,
    get_named_type,
)

from app.rewards import Reward, RewardKind
from graphql_schema.export import export_sdl
from graphql_schema.ids import to_global_id
from tests.api.gql import (
    ask,
    data,
    earn_points,
    make_member,
    make_program,
    make_reward,
    member_token,
)

CONTRACT_FILE = Path(__file__).resolve().parents[3] / "shared" / "contract" / "member-app.graphql"
CONTRACT = build_schema(CONTRACT_FILE.read_text(encoding="utf-8"))
ARGUMENTS = {"first": "5"}  # the one required argument of the queries (ids and inputs aside)


def selection(field_type, depth: int = 0) -> str:
    """Every field of the type, recursively; interfaces also ask each implementation's own fields."""
    named = get_named_type(field_type)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        return ""
    parts = ["__typename"]
    for name, field in named.fields.items():
        parts.append(name + arguments(field) + selection(field.type, depth + 1))
    if isinstance(named, GraphQLInterfaceType):
        for implementation in CONTRACT.get_implementations(named).objects:
            parts.append(f"... on {implementation.name} {selection(implementation, depth + 1)}")
    return " { " + " ".join(parts) + " }"


def arguments(field: GraphQLField) -> str:
    required = [
        f"{name}: {ARGUMENTS[name]}"
        for name, argument in field.args.items()
        if isinstance(argument.type, GraphQLNonNull) and name in ARGUMENTS
    ]
    return f"({', '.join(required)})" if required else ""


def test_the_served_schema_keeps_the_contract() -> None:
    assert find_breaking_changes(CONTRACT, build_schema(export_sdl())) == []


async def test_every_contract_query_field_answers(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)
    await make_reward(
        runtime,
        Reward(
            id="r_coffee",
            name="Coffee",
            kind=RewardKind.COUPON,
            points_price=100,
            coupon_validity_days=7,
        ),
    )
    member_id = await make_member(runtime, clock, phone="+8613800000009")
    await earn_points(runtime, clock, member_id, 500, "e1")
    token = member_token(issuer, member_id)
    query_type = CONTRACT.query_type
    assert query_type is not None
    redeem = CONTRACT.mutation_type.fields["redeemReward"]  # type: ignore[union-attr]
    mutation = (
        'mutation { redeemReward(input: {rewardId: "'
        + to_global_id("Reward", "r_coffee")
        + '", idempotencyKey: "contract"})'
        + selection(redeem.type)
        + " }"
    )
    redeemed = data(await ask(client, mutation, token))["redeemReward"]
    assert redeemed["userErrors"] == [] and redeemed["redemption"]["couponCode"]
    profile = CONTRACT.mutation_type.fields["updateProfile"]  # type: ignore[union-attr]
    update = (
        'mutation { updateProfile(input: {name: "Li Lei", email: "li@example.com", '
        'birthday: "1990-05-17"})' + selection(profile.type) + " }"
    )
    assert data(await ask(client, update, token))["updateProfile"]["userErrors"] == []

    fields = {name: f for name, f in query_type.fields.items() if name != "node"}
    query = "{ " + " ".join(n + arguments(f) + selection(f.type) for n, f in fields.items()) + " }"
    answer = data(await ask(client, query, token))
    assert set(answer) == set(fields)
    me = answer["me"]
    assert me["email"] == "li@example.com" and me["birthday"] == "1990-05-17"
    assert me["balance"]["available"] == 400
    assert [e["node"]["kind"] for e in me["history"]["edges"]] == ["REDEEM", "EARN"]
    assert me["redemptions"]["edges"][0]["node"]["reward"]["name"] == "Coffee"
    assert answer["rewards"]["edges"][0]["node"]["name"] == "Coffee"
    assert answer["program"]["tiers"]

    owned = [
        (me["id"], "Member"),
        (me["history"]["edges"][0]["node"]["id"], "LedgerEntry"),
        (me["redemptions"]["edges"][0]["node"]["id"], "Redemption"),
        (to_global_id("Reward", "r_coffee"), "Reward"),
    ]
    for global_id, type_name in owned:
        # One implementation per document: their same-named fields differ in nullability.
        fragment = f"... on {type_name}{selection(CONTRACT.get_type(type_name))}"
        asked = f'{{ node(id: "{global_id}") {{ id {fragment} }} }}'
        answered = data(await ask(client, asked, token))["node"]
        assert (answered["id"], answered["__typename"]) == (global_id, type_name)
