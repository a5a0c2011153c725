"""What a purchase and a preview cost the database, counted on the wire."""

from __future__ import annotations

from tests.api.gql import ask, data, make_member, seed_history
from tests.api.test_command_counts import commands
from tests.partners.api import (
    PURCHASE,
    make_program,
    partner_token,
    purchase_input,
    with_campaign,
)

PREVIEW = """
query($input: RecordPurchaseInput!) {
  previewEarn(input: $input) { total breakdown { rule points lineId } }
}"""
WRITES = {"insert", "update", "delete", "findAndModify", "commitTransaction"}
FIVE = ("10", "20", "30", "40", "50")


async def test_a_purchase_of_five_lines_is_six_commands_whatever_the_history(
    client, runtime, clock, settings, issuer
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await seed_history(runtime, clock, member, 1_000)
    token = await partner_token(runtime, clock, issuer)
    await ask(client, PURCHASE, token, {"input": purchase_input(member, "warm")})  # program cached
    variables = {"input": purchase_input(member, "o-1", amounts=FIVE)}
    sent, body = await commands(settings, lambda: ask(client, PURCHASE, token, variables))
    assert data(body)["recordPurchase"]["purchase"]["total"] == 150
    assert sent == [
        # the member with the partner's registry entry (a suspension refuses the very next
        # request); the program is this process's copy (current_program)
        "aggregate",
        # the account, read and moved by the earn at once (app.ledger.express), with the
        # member's qualifying points (a tally on the account: app.members.tiers)
        "findAndModify",
        "insert",  # the lot
        "insert",  # the EARN entry with its breakdown
        "update",  # the order: an upsert that fails on its `_id` when another member holds it
        "insert",  # the points.earned event (app/event_log.py), in the same transaction
        "commitTransaction",
    ], sent
    assert len(sent) <= 7  # issue 22's six, and the event of issue 23


async def test_a_preview_gives_the_purchase_breakdown_and_writes_nothing(
    client, runtime, clock, settings, issuer
) -> None:
    await make_program(runtime, clock, with_campaign(budget=1_000))
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    variables = {"input": purchase_input(member, "o-1", amounts=FIVE)}
    await ask(client, PREVIEW, token, variables)  # program cached
    sent, body = await commands(settings, lambda: ask(client, PREVIEW, token, variables))
    preview = data(body)["previewEarn"]
    assert not WRITES & set(sent), sent
    # the member with the partner's registry entry, the budgets (the program is cached)
    assert sent == ["aggregate", "find"], sent
    bought = data(await ask(client, PURCHASE, token, variables))["recordPurchase"]["purchase"]
    assert preview["total"] == bought["total"] == 300
    assert preview["breakdown"] == [
        {key: row[key] for key in ("rule", "points", "lineId")} for row in bought["breakdown"]
    ]


async def test_admins_preview_with_program_read(client, runtime, clock, issuer) -> None:
    from app.auth import PrincipalKind

    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    variables = {"input": purchase_input(member, "o-1")}
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["program:read"])
    assert data(await ask(client, PREVIEW, admin, variables))["previewEarn"]["total"] == 100
    other = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["members:read"])
    body = await ask(client, PREVIEW, other, variables)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
