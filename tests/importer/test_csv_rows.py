"""Hostile CSV through every door that reads one (importMembers, startImport, `jifen import`): a
quoted cell with line breaks keeps the line numbers after it right, an unclosed quote costs its
own row and not the rest of the file, a NUL refuses its row by line (a lone surrogate, which only
JSON text can carry, refuses the request: it is not Unicode), and what was imported reads back
as stored (exportMember).

And what the product writes: every text cell a spreadsheet would run as a formula is escaped."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock, SystemClock
from app.db import Mongo
from app.importer import run_due_import
from app.program import save_program
from app.reports import Table, to_csv
from app.runtime import Runtime
from app.seed import DEMO_PROGRAM
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data
from tests.importer.test_import import NOW
from tests.importer.test_upload import JOB, upload
from tests.test_cli_points import jifen

# Line 2-3: a quoted name holding a line break; line 5: a quote never closed; line 6: a NUL;
# line 10: an ESC in a legacy id.
MEMBERS = (
    "legacy_id,phone,name,email,birthday,tier,joined_at\n"
    'H1,13800000001,"Wang\nFang",wf@example.com,,,\n'
    "H2,13800000002,Li Lei,,,,\n"
    'H3,13800000003,"Zhang San,,,,\n'
    "H4,13800000004,Zhao\x00Si,,,,\n"
    "H5,13800000005,Qian Wu,,,,\r\n"
    "H6,13800000006,=1+2,,,,\r"
    "H7,13800000007,Sun Liu,,,,\n"
    "H\x1b9,13800000009,Wu Jiu,,,,\n"
)
REFUSED = [("members.csv", 5, "row"), ("members.csv", 6, "name"), ("members.csv", 10, "legacy_id")]
IMPORTED = {"H1": "Wang Fang", "H2": "Li Lei", "H5": "Qian Wu", "H6": "=1+2", "H7": "Sun Liu"}
# Only JSON text can carry a lone surrogate (UTF-8 bytes cannot): not Unicode, the request is refused.
SURROGATE_ROW = "H8,13800000008,Zhou\ud800,,,,\n"
BALANCES = "legacy_id,points,earned_at,expires_at\n"
IMPORT = """mutation($i: ImportMembersInput!) { importMembers(input: $i) {
  membersImported errorCount errors { file line field message } } }"""
EXPORT = "mutation($i: ExportMemberInput!) { exportMember(input: $i) { data userErrors { code } } }"
SCOPES = ["import:write", "members:read"]


@pytest.fixture
async def admin(runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer) -> str:
    clock.set(NOW)
    await save_program(runtime.mongo, clock, DEMO_PROGRAM)
    return issuer.mint(PrincipalKind.ADMIN, "ops", scopes=SCOPES)


async def _imported(mongo: Mongo) -> dict[str, str]:
    found = mongo["members"].find({"legacy_id": {"$exists": True}}, {"legacy_id": 1, "name": 1})
    return {member["legacy_id"]: member["name"] async for member in found}


async def _ask_ascii(client: httpx.AsyncClient, token: str, variables: dict[str, object]) -> dict:
    """importMembers with the body as ASCII JSON: a lone surrogate travels as its \\ud800 escape
    (httpx's own encoding would refuse to send it as UTF-8)."""
    body = json.dumps({"query": IMPORT, "variables": variables}).encode()
    response = await client.post(
        "/graphql",
        content=body,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer: dict = response.json()
    return answer


def _where(errors: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(error["file"], error["line"], error["field"]) for error in errors]


async def test_import_members_refuses_each_broken_row_by_its_physical_line_and_imports_the_rest(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    surrogate = {"i": {"membersCsv": MEMBERS + SURROGATE_ROW, "balancesCsv": BALANCES}}
    assert codes(await _ask_ascii(client, admin, surrogate)) == ["BAD_USER_INPUT"]
    assert await _imported(runtime.mongo) == {}
    variables = {"i": {"membersCsv": MEMBERS, "balancesCsv": BALANCES}}
    result = data(await _ask_ascii(client, admin, variables))["importMembers"]
    assert _where(result["errors"]) == REFUSED
    unclosed = result["errors"][0]["message"]
    assert "never closed" in unclosed, unclosed
    assert result["membersImported"] == len(IMPORTED)
    assert await _imported(runtime.mongo) == IMPORTED


async def test_an_uploaded_file_is_read_the_same_way(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, admin: str
) -> None:
    started = data(await upload(client, admin, "hostile", MEMBERS.encode(), BALANCES.encode()))
    job = started["startImport"]["job"]
    await run_due_import(runtime.mongo, clock, owner="worker-1")
    done = data(await ask(client, JOB, admin, {"id": job["id"]}))["importJob"]
    assert done["status"] == "DONE"
    assert _where(done["result"]["errors"]) == REFUSED
    assert await _imported(runtime.mongo) == IMPORTED


async def test_the_cli_reads_the_same_way_and_names_the_same_lines(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    await save_program(mongo, SystemClock(), DEMO_PROGRAM)
    members, balances = tmp_path / "members.csv", tmp_path / "balances.csv"
    members.write_bytes(MEMBERS.encode())
    balances.write_bytes(BALANCES.encode())
    done = jifen(mongo_url, db_name, tmp_path, "import", str(members), str(balances))
    assert done.returncode == 1, done.stderr
    assert "members.csv line 5: row: a quoted cell that opens on this line is never closed" in (
        done.stderr
    )
    assert "members.csv line 6: name: holds a NUL character" in done.stderr
    assert json.loads(done.stdout)["errors"] == 3
    assert await _imported(mongo) == IMPORTED


async def test_what_an_import_stored_reads_back_as_it_was_given(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    variables = {"i": {"membersCsv": MEMBERS, "balancesCsv": BALANCES}}
    data(await _ask_ascii(client, admin, variables))
    exported = {}
    async for member in runtime.mongo["members"].find({}, {"_id": 1}):
        answer = data(
            await ask(
                client, EXPORT, admin, {"i": {"memberId": to_global_id("Member", member["_id"])}}
            )
        )
        profile = answer["exportMember"]["data"]["profile"]
        exported[profile["legacy_id"]] = profile["name"]
    assert exported == IMPORTED  # a formula is a name like any other in a JSON export
    assert "\\u0000" not in json.dumps(exported)


# OWASP's list, NUL and line feed, and the full-width signs zh-CN spreadsheets may take as formulas
@pytest.mark.parametrize("start", list("=+-@\t\r\n\x00＝＋－＠"))
def test_a_text_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text(start: str) -> None:
    cell = f'{start}HYPERLINK("http://evil.example")'
    table = Table(("name", "points", "money"), ((cell, -5, Decimal("-1.50")),))
    [_, row] = list(csv.reader(io.StringIO(to_csv(table), newline="")))
    assert row == ["'" + cell, "-5", "-1.50"]  # numbers stay numbers
