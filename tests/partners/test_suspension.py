"""Suspensions take effect at once: a suspended or erased member's held points cannot be captured
(only released), and a suspended partner's next request is refused, whichever process suspended it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.members import set_member_status
from app.privacy import erase_member
from tests.api.gql import ask, codes, data, earn_points, make_member
from tests.ledger.conftest import assert_invariants
from tests.partners.api import (
    BALANCE,
    CAPTURE,
    PURCHASE,
    RELEASE,
    balance,
    capture,
    hold,
    make_program,
    member_ref,
    partner_token,
    purchase_input,
)
from tests.test_cli import jifen


async def suspend(runtime, clock, member: str) -> None:
    await set_member_status(
        runtime.mongo, clock, member, False, reason="chargebacks", actor="admin:ops"
    )


async def erase(runtime, clock, member: str) -> None:
    await erase_member(runtime.mongo, clock, member, reason="asked to", actor="admin:ops")


@pytest.mark.parametrize("end", [suspend, erase], ids=["suspended", "erased"])
async def test_a_hold_made_before_the_member_was_suspended_cannot_be_captured(
    client, runtime, clock, issuer, end
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 1_000, "seed")
    token = await partner_token(runtime, clock, issuer)
    first = await hold(client, token, member, 300, "o-1", "h1")
    second = await hold(client, token, member, 200, "o-2", "h2")
    await end(runtime, clock, member)
    refused = await capture(client, token, first["id"], "c1")
    assert refused == {
        "entry": None,
        "userErrors": [{"code": "MEMBER_SUSPENDED", "field": ["input", "holdId"]}],
    }
    assert (await capture(client, token, second["id"], "c2", points=100))["entry"] is None
    said = CAPTURE.replace("userErrors { code field }", "userErrors { message }")
    body = {"holdId": first["id"], "idempotencyKey": "c3"}
    [error] = data(await ask(client, said, token, {"input": body}))["capturePoints"]["userErrors"]
    status = end.__name__.replace("suspend", "suspended").replace("erase", "erased")
    assert error["message"] == f"the member is {status}: their points cannot be used"
    released = data(await ask(client, RELEASE, token, {"id": first["id"]}))["releasePoints"]
    assert released["hold"]["status"] == "RELEASED"
    assert await balance(client, token, member) == {
        "available": 800,
        "pending": 0,
        "held": 200,
        "debt": 0,
    }
    await assert_invariants(runtime.mongo)


async def test_a_partner_suspended_by_another_process_is_refused_at_its_next_request(
    client, runtime, clock, issuer, mongo_url, db_name, tmp_path: Path
):
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    assert data(await ask(client, BALANCE, token, {"member": member_ref(member)}))
    partner_id = (await runtime.mongo["partners"].find_one({}))["_id"]
    suspended = jifen(mongo_url, db_name, tmp_path, "partner", "suspend", partner_id)
    assert suspended.returncode == 0, suspended.stderr
    assert codes(await ask(client, BALANCE, token, {"member": member_ref(member)})) == ["FORBIDDEN"]
    body = await ask(client, PURCHASE, token, {"input": purchase_input(member, "o-1")})
    assert codes(body) == ["FORBIDDEN"]
    assert await runtime.mongo["orders"].count_documents({}) == 0
