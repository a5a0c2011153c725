"""Who may call the partner API: partner tokens with the scope, of a registered active partner."""

from __future__ import annotations

from app.auth import PrincipalKind
from app.partners import PartnerStatus, set_partner_status
from tests.api.gql import ask, codes, data, make_member, member_token
from tests.partners.api import (
    BALANCE,
    PURCHASE,
    make_program,
    member_ref,
    partner_token,
    purchase_input,
)

REGISTER = """
mutation($input: RegisterPartnerInput!) {
  registerPartner(input: $input) { partner { id name scopes status } userErrors { code field } }
}"""


async def test_a_member_token_is_forbidden_on_partner_fields(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = member_token(issuer, member)
    body = await ask(client, PURCHASE, token, {"input": purchase_input(member, "o-1")})
    assert codes(body) == ["FORBIDDEN"]
    body = await ask(client, BALANCE, token, {"member": member_ref(member)})
    assert codes(body) == ["FORBIDDEN"]


async def test_a_partner_without_the_scope_is_forbidden(client, runtime, clock, issuer):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    reader = await partner_token(runtime, clock, issuer, scopes=("points:read",))
    body = await ask(client, PURCHASE, reader, {"input": purchase_input(member, "o-1")})
    assert codes(body) == ["FORBIDDEN"]
    assert data(await ask(client, BALANCE, reader, {"member": member_ref(member)}))


async def test_a_token_of_an_unregistered_or_suspended_partner_is_forbidden(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    ghost = issuer.mint(PrincipalKind.PARTNER, "pt_" + "0" * 20, scopes=["points:read"])
    assert codes(await ask(client, BALANCE, ghost, {"member": member_ref(member)})) == ["FORBIDDEN"]
    token = await partner_token(runtime, clock, issuer)
    partner_id = (await runtime.mongo["partners"].find_one({}))["_id"]
    assert await set_partner_status(
        runtime.mongo, clock, partner_id, PartnerStatus.SUSPENDED, actor="cli:test"
    )
    assert codes(await ask(client, BALANCE, token, {"member": member_ref(member)})) == ["FORBIDDEN"]


async def test_a_token_scope_the_registry_does_not_grant_is_forbidden(
    client, runtime, clock, issuer
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer, scopes=("points:read",))
    partner_id = (await runtime.mongo["partners"].find_one({}))["_id"]
    forged = issuer.mint(PrincipalKind.PARTNER, partner_id, scopes=["points:earn"])
    body = await ask(client, PURCHASE, forged, {"input": purchase_input(member, "o-1")})
    assert codes(body) == ["FORBIDDEN"]
    assert data(await ask(client, BALANCE, token, {"member": member_ref(member)}))


async def test_operators_register_partners_idempotently(client, runtime, clock, issuer):
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["partners:write"])
    wanted = {"name": "Airport shop", "scopes": ["points:earn"], "idempotencyKey": "k1"}
    first = data(await ask(client, REGISTER, admin, {"input": wanted}))["registerPartner"]
    again = data(await ask(client, REGISTER, admin, {"input": wanted}))["registerPartner"]
    assert first == again and first["partner"]["status"] == "ACTIVE"
    other = {**wanted, "scopes": ["points:read"]}
    conflict = data(await ask(client, REGISTER, admin, {"input": other}))["registerPartner"]
    assert conflict["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT"
    bad = {"name": "x", "scopes": ["members:write"], "idempotencyKey": "k2"}
    refused = data(await ask(client, REGISTER, admin, {"input": bad}))["registerPartner"]
    assert refused["userErrors"][0]["field"] == ["input", "scopes"]
    assert await runtime.mongo["partners"].count_documents({}) == 1
    reader = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["members:read"])
    assert codes(await ask(client, REGISTER, reader, {"input": wanted})) == ["FORBIDDEN"]
