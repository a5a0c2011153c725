"""startImport over HTTP: files uploaded as a GraphQL multipart request, stored and queued, run by
the worker's pass to the same result as `jifen import`, watched with importJob; retried uploads,
refused files, the scope, the body limits, and a run that dies midway."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.errors import PyMongoError

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.importer import run as import_run
from app.importer.uploads import STALE, run_due_import
from app.leases import acquire, held
from app.ledger import verify_balances
from app.program import save_program
from app.runtime import Runtime
from app.seed import DEMO_PROGRAM
from tests.api.gql import ask, codes, data, make_member, member_token
from tests.faults import fail_point
from tests.importer.test_import import BALANCES, MEMBERS, NOW
from tests.processes import api_process, jifen_env, served_issuer

START = """mutation($i: StartImportInput!) { startImport(input: $i) {
  replayed job { id status total done membersFile { name bytes } balancesFile { name bytes } }
  userErrors { code field message } } }"""
JOB = """query($id: ID!) { importJob(id: $id) { status dryRun actor total done failure
  result { membersImported membersUnchanged balancesImported pointsImported errorCount
           errors { file line field } } } }"""


def multipart(
    key: str, members: bytes | None, balances: bytes | None = None, *, dry_run: bool = False
) -> dict[str, Any]:
    """httpx arguments for startImport as the GraphQL multipart request spec sends it."""
    variables: dict[str, Any] = {"members": None, "idempotencyKey": key, "dryRun": dry_run}
    files: dict[str, tuple[str, bytes, str]] = {}
    mapping: dict[str, list[str]] = {}
    if members is not None:
        files["0"], mapping["0"] = ("members.csv", members, "text/csv"), ["variables.i.members"]
    if balances is not None:
        variables["balances"] = None
        files["1"], mapping["1"] = ("balances.csv", balances, "text/csv"), ["variables.i.balances"]
    operations = {"query": START, "variables": {"i": variables}}
    return {
        "data": {"operations": json.dumps(operations), "map": json.dumps(mapping)},
        "files": files,
    }


def uploader(token: str) -> dict[str, str]:
    """The headers of an upload: the operator's token, and the preflight header the API asks of
    every multipart request (a page on another site cannot set it)."""
    return {"authorization": f"Bearer {token}", "graphql-preflight": "1"}


async def upload(
    client: httpx.AsyncClient,
    token: str,
    key: str,
    members: bytes | None,
    balances: bytes | None = None,
    **options: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", headers=uploader(token), **multipart(key, members, balances, **options)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
async def admin(runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer) -> str:
    clock.set(NOW)
    await save_program(runtime.mongo, clock, DEMO_PROGRAM)
    return issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["import:write"])


async def test_uploaded_files_are_imported_by_the_worker_like_the_cli_and_a_retry_is_the_same_job(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, admin: str
) -> None:
    started = data(await upload(client, admin, "up-1", MEMBERS.encode(), BALANCES.encode()))
    payload = started["startImport"]
    assert payload["userErrors"] == [] and payload["replayed"] is False
    job = payload["job"]
    assert (job["status"], job["done"], job["total"]) == ("QUEUED", 0, None)
    assert job["membersFile"] == {"name": "members.csv", "bytes": len(MEMBERS.encode())}
    assert await runtime.mongo["members"].count_documents({}) == 0  # nothing before the worker
    [audited] = await runtime.mongo["audit"].find({"action": "import.start"}).to_list()
    assert (audited["actor"], audited["after"]["files"]["members"]["name"]) == (
        "admin:ops",
        "members.csv",
    )
    assert audited["request_id"]  # the upload's request, as every admin write
    again = data(await upload(client, admin, "up-1", MEMBERS.encode(), BALANCES.encode()))
    assert again["startImport"]["replayed"] is True
    assert again["startImport"]["job"]["id"] == job["id"]
    conflict = data(await upload(client, admin, "up-1", MEMBERS.encode()))["startImport"]
    assert [(e["code"], e["field"]) for e in conflict["userErrors"]] == [
        ("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])
    ]
    assert await runtime.mongo["audit"].count_documents({"action": "import.start"}) == 1

    ran = await run_due_import(runtime.mongo, clock, owner="worker-1")
    assert ran is not None and ran.status.value == "done"
    assert await run_due_import(runtime.mongo, clock, owner="worker-1") is None  # nothing due
    done = data(await ask(client, JOB, admin, {"id": job["id"]}))["importJob"]
    assert (done["status"], done["total"], done["done"]) == ("DONE", 3, 3)  # rows that parsed
    assert done["actor"] == "admin:ops"
    result = done["result"]
    # the very figures of the CLI's import of the same files (tests/importer/test_import.py)
    assert (result["membersImported"], result["balancesImported"], result["pointsImported"]) == (
        3,
        5,
        1640,
    )
    assert result["errorCount"] == 9 == len(result["errors"])
    assert {"file": "members.csv", "line": 4, "field": "phone"} in result["errors"]
    assert await runtime.mongo["import_parts"].count_documents({}) == 0  # files gone, summary kept

    rerun = data(await upload(client, admin, "up-2", MEMBERS.encode(), BALANCES.encode()))
    await run_due_import(runtime.mongo, clock, owner="worker-1")
    second = data(await ask(client, JOB, admin, {"id": rerun["startImport"]["job"]["id"]}))
    counts = second["importJob"]["result"]
    assert (counts["membersImported"], counts["membersUnchanged"]) == (0, 3)
    assert await runtime.mongo["members"].count_documents({"legacy_id": {"$exists": True}}) == 3
    assert await verify_balances(runtime.mongo) == []


@pytest.mark.parametrize(
    ("members", "field", "says"),
    [
        (b"legacy_id,phone,name\nL1,13800000001,A\n", "members", "missing email"),
        (
            "legacy_id,phone,name,email,birthday,tier,joined_at\nL1,,Wáng\n".encode("gbk"),
            "members",
            "not UTF-8",
        ),
        (b"", "members", "missing"),
    ],
)
async def test_a_file_no_import_could_read_is_refused_with_its_field_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, admin: str, members: bytes, field: str, says: str
) -> None:
    refused = data(await upload(client, admin, "bad", members))["startImport"]
    assert refused["job"] is None
    [error] = refused["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", field])
    assert says in error["message"]
    assert await runtime.mongo["import_jobs"].count_documents({}) == 0
    assert await runtime.mongo["import_parts"].count_documents({}) == 0


async def test_text_where_a_file_belongs_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    body = await ask(client, START, admin, {"i": {"members": MEMBERS, "idempotencyKey": "t"}})
    [error] = data(body)["startImport"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", "members"])
    assert await runtime.mongo["import_jobs"].count_documents({}) == 0


@pytest.mark.parametrize("kind", ["member", "partner", "admin without import:write"])
async def test_uploading_is_forbidden_without_the_scope_and_big_bodies_are_refused_unread(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    issuer: TokenIssuer,
    admin: str,
    kind: str,
) -> None:
    token = {
        "member": member_token(issuer, await make_member(runtime, clock)),
        "partner": issuer.mint(PrincipalKind.PARTNER, "p1", scopes=["import:write"]),
        "admin without import:write": issuer.mint(PrincipalKind.ADMIN, "o", scopes=["audit:read"]),
    }[kind]
    assert codes(await upload(client, token, "k", MEMBERS.encode())) == ["FORBIDDEN"]
    big = MEMBERS.encode() + b"L9,13800000009,Padding,,,,\n" * 3000  # ~80 KB, over the 64 KB cap
    response = await client.post("/graphql", headers=uploader(token), **multipart("k", big))
    assert codes(response.json()) == ["FORBIDDEN"]  # answered without reading the body
    assert await runtime.mongo["import_jobs"].count_documents({}) == 0
    assert await runtime.mongo["import_parts"].count_documents({}) == 0


async def test_a_big_upload_with_an_expired_token_is_told_to_sign_in_again(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    issuer: TokenIssuer,
    admin: str,
) -> None:
    expired = issuer.mint(
        PrincipalKind.ADMIN, "ops", scopes=["import:write"], ttl=timedelta(minutes=1)
    )
    clock.set(clock.now() + timedelta(minutes=5))
    big = MEMBERS.encode() + b"L9,13800000009,Padding,,,,\n" * 3000
    response = await client.post("/graphql", headers=uploader(expired), **multipart("k", big))
    assert response.status_code == 200
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert await runtime.mongo["import_parts"].count_documents({}) == 0


CHUNK = 100  # rows per chunk in these tests (app.importer.run.CHUNK, 1,000 in production)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 100 rows: the import's chunking, journal and resumption are the same at any
    size, and three chunks of 1,000 made two of the suite's slowest tests."""
    monkeypatch.setattr(import_run, "CHUNK", CHUNK)


def three_chunks() -> tuple[bytes, bytes]:
    """members.csv and balances.csv of 250 members, a balance each: three chunks of an import
    under `small_chunks` (five inserts a chunk: the journal, accounts, lots, entries, members)."""
    members = "legacy_id,phone,name,email,birthday,tier,joined_at\n" + "".join(
        f"M{n:05d},139{n:08d},Member {n},,,,\n" for n in range(250)
    )
    balances = "legacy_id,points,earned_at,expires_at\n" + "".join(
        f"M{n:05d},{n % 97 + 1},2026-01-0{n % 9 + 1},\n" for n in range(250)
    )
    return members.encode(), balances.encode()


async def test_a_job_waits_while_another_import_runs_and_a_run_that_died_is_finished_once(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, admin: str, small_chunks: None
) -> None:
    members, balances = three_chunks()
    job_id = data(await upload(client, admin, "big", members, balances))["startImport"]["job"]["id"]
    assert await acquire(runtime.mongo, clock, "import", "the-cli", timedelta(minutes=1))
    assert await run_due_import(runtime.mongo, clock, owner="w1") is None  # the CLI's runs
    waiting = data(await ask(client, JOB, admin, {"id": job_id}))["importJob"]
    assert (waiting["status"], waiting["total"]) == ("QUEUED", None)  # files not even read
    clock.set(clock.now() + timedelta(minutes=2))  # the CLI's lease lapsed

    # The database refuses the third chunk's members (five inserts a chunk: the journal, accounts,
    # lots, entries, members): the run dies midway and the job stays running. A refusal the
    # driver may not retry (8, UnknownError): a retryable one (91, shutting down) was retried or
    # not by the driver depending on the pooled session's history, which made this test flaky.
    with pytest.raises(PyMongoError):
        async with fail_point(
            runtime.mongo, {"skip": 14, "times": 1}, {"failCommands": ["insert"], "errorCode": 8}
        ):
            await run_due_import(runtime.mongo, clock, owner="w1")
    stuck = data(await ask(client, JOB, admin, {"id": job_id}))["importJob"]
    assert (stuck["status"], stuck["total"], stuck["done"]) == ("RUNNING", 250, 200)
    assert await run_due_import(runtime.mongo, clock, owner="w2") is None  # not stale yet
    clock.set(clock.now() + STALE + timedelta(seconds=1))
    finished = await run_due_import(runtime.mongo, clock, owner="w2")
    assert finished is not None and finished.status.value == "done"
    assert finished.summary is not None
    assert (finished.summary["members_imported"], finished.summary["members_unchanged"]) == (
        50,
        200,
    )
    assert await runtime.mongo["members"].count_documents({}) == 250
    assert await runtime.mongo["ledger"].count_documents({}) == 250
    assert await verify_balances(runtime.mongo) == []


async def test_an_import_cut_off_by_a_clean_stop_is_queued_again_and_the_next_worker_finishes_it(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, admin: str, small_chunks: None
) -> None:
    await upload(client, admin, "cut", *three_chunks())
    jobs = runtime.mongo["import_jobs"]
    [job_id] = await jobs.distinct("_id")
    # The second chunk's first insert waits; meanwhile the worker stops, cancelling the pass.
    # (The stall outlasts any wait for a core on a loaded machine: the pass must still be inside
    # it when the test has seen the first chunk done and cancels.)
    stall = {"failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 10000}
    async with fail_point(runtime.mongo, {"skip": 5, "times": 1}, stall):
        running = asyncio.create_task(run_due_import(runtime.mongo, clock, owner="w1"))
        deadline = time.monotonic() + 60
        while True:
            job = await jobs.find_one({"_id": job_id})
            if job is not None and job.get("done", 0) >= CHUNK:
                break
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.01)
        assert not running.done()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    cut = await jobs.find_one({"_id": job_id})
    assert cut is not None and (cut["status"], cut["owner"], cut["done"]) == ("queued", None, CHUNK)
    assert not await held(runtime.mongo, clock, "import")  # the run's lease was given back
    # Not a minute later: at once, on the same clock.
    finished = await run_due_import(runtime.mongo, clock, owner="w2")
    assert finished is not None and finished.status.value == "done"
    assert await runtime.mongo["members"].count_documents({}) == 250
    assert await verify_balances(runtime.mongo) == []


def test_a_served_upload_beyond_the_json_cap_is_accepted_and_a_huge_one_is_refused_unread(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    """Through uvicorn: 4,000 members (~200 KB, three times the JSON body cap) are accepted; a
    declared 200 MB body is answered 413 before a byte of it is sent."""
    token = _admin_token(tmp_path / "data")
    env = jifen_env(mongo_url, db_name, tmp_path / "data")
    members = "legacy_id,phone,name,email,birthday,tier,joined_at\n" + "".join(
        f"S{n:05d},137{n:08d},Served {n},s{n}@example.com,1991-02-03,,2021-01-01\n"
        for n in range(4000)
    )
    with api_process(env, tmp_path / "api.log") as port:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            response = http.post(
                "/graphql", headers=uploader(token), **multipart("served", members.encode())
            )
        started = data(response.json())["startImport"]
        assert started["userErrors"] == []
        assert started["job"]["membersFile"]["bytes"] == len(members.encode()) > 3 * 64 * 1024
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                b"boundary=b\r\nContent-Length: 200000000\r\nGraphQL-Preflight: 1\r\n"
                + f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            assert raw.recv(200).startswith(b"HTTP/1.1 413")


def _admin_token(data_dir: Path) -> str:
    """An admin token signed with the key the API process will load from its data folder."""
    return served_issuer(data_dir).mint(PrincipalKind.ADMIN, "ops", scopes=["import:write"])


@pytest.mark.parametrize(
    ("fields", "files"),
    [
        ({"map": "{}"}, {}),  # no operations
        ({"operations": "[]", "map": "{}"}, {}),  # a batch
        ({"map": "{}"}, {"operations": ("ops.json", b'{"query": "{ __typename }"}', "a/b")}),
        ({"operations": "{}", "map": "[1]"}, {}),
        ({"operations": "{}", "map": '{"0": "variables.i.members"}'}, {"0": ("m", b"x", "a/b")}),
        (
            {"operations": '{"variables": {"i": 1}}', "map": '{"0": ["variables.i.x.y"]}'},
            {"0": ("m", b"x", "a/b")},
        ),
        (
            {"operations": '{"variables": {"i": [1]}}', "map": '{"0": ["variables.i.z"]}'},
            {"0": ("m", b"x", "a/b")},
        ),
        ({"operations": "{}", "map": '{"7": ["variables.i.members"]}'}, {}),  # no such part
    ],
)
async def test_a_malformed_multipart_request_is_a_400_and_no_error_of_ours(
    client: httpx.AsyncClient,
    admin: str,
    fields: dict[str, str],
    files: dict[str, tuple[str, bytes, str]],
) -> None:
    response = await client.post(
        "/graphql",
        headers=uploader(admin),
        data=fields,
        files=files or {"unused": ("u", b"", "text/plain")},
    )
    assert response.status_code == 400, response.text


async def test_a_dry_run_job_counts_what_it_would_import_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, admin: str
) -> None:
    started = await upload(client, admin, "dry", MEMBERS.encode(), BALANCES.encode(), dry_run=True)
    job_id = data(started)["startImport"]["job"]["id"]
    await run_due_import(runtime.mongo, clock, owner="w")
    job = data(await ask(client, JOB, admin, {"id": job_id}))["importJob"]
    assert (job["status"], job["dryRun"]) == ("DONE", True)
    assert (job["result"]["membersImported"], job["result"]["pointsImported"]) == (3, 1640)
    assert await runtime.mongo["members"].count_documents({}) == 0
    assert await runtime.mongo["ledger"].count_documents({}) == 0
    assert codes(await ask(client, JOB, admin, {"id": "not-an-id"})) == ["BAD_USER_INPUT"]


async def test_concurrent_uploads_with_one_key_make_one_job_and_keep_one_set_of_files(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    answers = await asyncio.gather(
        *[upload(client, admin, "same", MEMBERS.encode(), BALANCES.encode()) for _ in range(6)]
    )
    payloads = [data(answer)["startImport"] for answer in answers]
    assert len({payload["job"]["id"] for payload in payloads}) == 1
    assert sorted(payload["replayed"] for payload in payloads) == [False] + [True] * 5
    assert await runtime.mongo["import_jobs"].count_documents({}) == 1
    assert await runtime.mongo["import_parts"].count_documents({}) == 2  # members and balances
    assert await runtime.mongo["audit"].count_documents({"action": "import.start"}) == 1


async def test_import_jobs_page_newest_first(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    made = [
        data(await upload(client, admin, f"page-{n}", MEMBERS.encode()))["startImport"]["job"]["id"]
        for n in range(3)
    ]
    page = """query($after: String) { importJobs(first: 2, after: $after) {
      edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = data(await ask(client, page, admin, {}))["importJobs"]
    assert [e["node"]["id"] for e in first["edges"]] == made[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    after = {"after": first["pageInfo"]["endCursor"]}
    rest = data(await ask(client, page, admin, after))["importJobs"]
    assert [e["node"]["id"] for e in rest["edges"]] == made[:1]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_a_part_written_but_unanswered_is_retried_into_the_same_job(
    client: httpx.AsyncClient, runtime: Runtime, admin: str
) -> None:
    """The database applies a part's write and its answer is lost (as when it restarts): the
    driver's retry must find the part, not fail on its id."""
    async with fail_point(
        runtime.mongo,
        {"times": 1},
        {
            "failCommands": ["insert", "update"],
            "namespace": f"{runtime.mongo.db.name}.import_parts",
            "writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out"},
            "errorLabels": ["RetryableWriteError"],
        },
    ):
        started = data(await upload(client, admin, "lost", MEMBERS.encode()))["startImport"]
    assert started["userErrors"] == [] and started["job"]["id"]
    assert await runtime.mongo["import_parts"].count_documents({}) == 1
