"""importMembers over HTTP: the same import as the CLI, refused rows listed by line, reruns
importing nothing twice, only for operators with import:write."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.leases import acquire
from app.program import save_program
from app.runtime import Runtime
from app.seed import DEMO_PROGRAM
from tests.api.gql import ask, codes, data, make_member, member_token
from tests.importer.test_import import BALANCES, MEMBERS, NOW

IMPORT = """mutation($i: ImportMembersInput!) { importMembers(input: $i) {
  membersImported membersUnchanged balancesImported pointsImported errorCount
  errors { file line field message } } }"""


async def test_operators_import_csv_text_and_a_rerun_imports_nothing_twice(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    clock.set(NOW)
    await save_program(runtime.mongo, clock, DEMO_PROGRAM)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["import:write"])
    variables = {"i": {"membersCsv": MEMBERS, "balancesCsv": BALANCES}}
    first = data(await ask(client, IMPORT, admin, variables))["importMembers"]
    assert (first["membersImported"], first["balancesImported"], first["pointsImported"]) == (
        3,
        5,
        1640,
    )
    assert first["errorCount"] == 9
    assert {"file": "members.csv", "line": 4, "field": "phone"}.items() <= first["errors"][
        4
    ].items()
    again = data(await ask(client, IMPORT, admin, variables))["importMembers"]
    assert (again["membersImported"], again["membersUnchanged"]) == (0, 3)


@pytest.mark.parametrize("kind", ["member", "partner", "admin without import:write"])
async def test_importing_is_forbidden_without_the_scope(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, kind: str
) -> None:
    token = {
        "member": member_token(issuer, await make_member(runtime, clock)),
        "partner": issuer.mint(PrincipalKind.PARTNER, "p1", scopes=["import:write"]),
        "admin without import:write": issuer.mint(
            PrincipalKind.ADMIN, "o", scopes=["members:write"]
        ),
    }[kind]
    body = await ask(client, IMPORT, token, {"i": {"membersCsv": MEMBERS, "balancesCsv": BALANCES}})
    assert codes(body) == ["FORBIDDEN"]
    assert await runtime.mongo["members"].count_documents({"legacy_id": {"$exists": True}}) == 0


async def test_an_import_while_another_runs_is_refused_with_its_code(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    clock.set(NOW)
    await save_program(runtime.mongo, clock, DEMO_PROGRAM)
    assert await acquire(runtime.mongo, clock, "import", "jifen-import-cli", timedelta(minutes=1))
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["import:write"])
    variables = {"i": {"membersCsv": MEMBERS, "balancesCsv": BALANCES}}
    body = await ask(client, IMPORT, admin, variables)
    assert codes(body) == ["IMPORT_RUNNING"]
    assert await runtime.mongo["members"].count_documents({}) == 0
    dry = data(await ask(client, IMPORT, admin, {"i": variables["i"] | {"dryRun": True}}))
    assert dry["importMembers"]["membersImported"] == 3  # what it would import: not refused
    assert await runtime.mongo["members"].count_documents({}) == 0
