"""Shared fixtures: one real SecantusDB process per test session, a fresh database per test."""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import PyMongoError
from starlette.applications import Starlette

from app.auth import TokenIssuer, prepare_passwords
from app.clock import FrozenClock
from app.config import Environment, Settings
from app.db import INDEXES_MARKER, Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger.upgrade import MARKER as LEDGER_SHAPE
from app.main import create_app
from app.members.tiers import MOVED, TIER_SINCE
from app.runtime import Runtime
from tests.processes import SPAWNED, new_database_name

# Compiled modules are kept (in __pycache__, git-ignored) whatever PYTHONDONTWRITEBYTECODE says:
# with it set, as on the machines this project is built on, every `jifen`, `serve`, worker and
# uvicorn process a test starts compiled app/ and graphql_schema/ from source again (0.3 s of the
# 1.3 s of CPU that importing app.main takes), and every xdist worker rewrote the asserts of
# every test module again. The workers and every process a test starts inherit it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# The modules that take longest (pytest --durations=0, summed by module), started first: under
# pytest-xdist (pyproject's addopts) a worker that starts one of them last runs it alone while the
# others are done. The order changes when a test runs, never what it asserts.
SLOW_FIRST = (
    "tests/ledger/test_durability.py",
    "tests/ledger/test_model.py",
    "tests/test_many_processes.py",
    "tests/backup/test_consistency.py",
    "tests/backup/test_cli.py",
    "tests/ledger/test_commands.py",
    "tests/test_serve.py",
    "tests/importer/test_upload.py",
    "tests/test_worker_process.py",
    "tests/test_live_warnings.py",
    "tests/api/test_schema_walk.py",
    "tests/reports/test_liability.py",
    "tests/api/test_sign_in.py",
    "tests/test_database_down.py",
    "tests/test_client_address.py",
    "tests/test_slow_clients.py",
    "tests/api/test_erasure.py",
    "tests/program/test_cli_program.py",
    "tests/test_served_limits.py",
    "tests/test_cli.py",
    "tests/test_cli_points.py",
    "tests/importer/test_import.py",
    "tests/api/test_replays.py",
)
# Tests that share one served app and one Chromium (package fixtures in tests/web/conftest.py):
# one xdist worker runs them all (`pytest_xdist_make_scheduler`), so the browser starts once.
SHARED_BROWSER = "tests/web/"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): one worker more than the machine has cores. A worker waits
    much of its time (on its database process, on `serve` and worker processes starting and
    stopping, on timeouts a test sets), and a third worker fills those waits: the whole suite on
    this 2-core machine, nothing else running, took 299 s with 3 workers and 317 s with 4
    (before the suite was made lighter: 453 s with 2, 393 s with 3, 419 s with 4). Lighter again
    (519 s of CPU), back to back: 315 s with 3, 303 and 311 s with 4, one of those two with a
    failure not seen with 3: within the host's own variation, so 3 stays."""
    return (os.cpu_count() or 1) + 1


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist hands out tests one by one, except tests/web, which goes to one worker whole (its
    served app, seed and Chromium start once), first, as the longest unit. pytest-xdist 3.8's
    `--dist loadgroup` cannot do it under pytest 9: it renames the grouped tests' `_nodeid`, an
    attribute pytest 9 no longer reads, so every browser test ran alone and each of the three
    workers started its own app, seed and Chromium."""
    from xdist.scheduler import LoadScopeScheduling

    class OneBrowser(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SHARED_BROWSER if nodeid.startswith(SHARED_BROWSER) else nodeid

    return OneBrowser(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    rank = {module: n for n, module in enumerate(SLOW_FIRST)}

    def place(item: pytest.Item) -> int:
        return rank.get(item.path.relative_to(root).as_posix(), len(rank))

    items.sort(key=place)  # stable: each module's tests keep their order, modules stay whole


# pytest-timeout (pyproject: 300 s) once let a test hang for over ten minutes without firing; this
# watchdog runs in C, whatever Python is doing: past it, every thread's stack goes to stderr and
# the process ends (under xdist, the worker: the test fails and a new worker takes the rest).
BACKSTOP_SECONDS = 420


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    faulthandler.dump_traceback_later(BACKSTOP_SECONDS, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SecantusDB server (test commands on, for configureFailPoint) shared by the whole session:
    by one xdist worker's tests, each worker having its own server (each test its own database)."""
    external = os.environ.get("JIFEN_TEST_MONGODB_URL")
    if external:
        yield external
        return
    root: Path = tmp_path_factory.mktemp("secantus")
    # Not synced on commit: nothing here must survive a power cut, and syncing slows every test.
    # tests/ledger/test_durability.py checks the product's durable start on a server of its own.
    server = EmbeddedMongo(root / "db", enable_test_commands=True, sync_on_commit=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


RECYCLE_SECONDS = 3.0
RECYCLE_DOCUMENTS = 500


class Databases:
    """One xdist worker's databases for tests that use `mongo` or `app`. Creating the collections
    and indexes of a new database costs a SecantusDB 0.2 to 0.6 s, more than most tests; so a
    test's database is emptied afterwards and handed to a later test, but only when its
    collections, their options and their indexes are exactly those of a freshly indexed database
    (anything else, or any doubt, and it is left unused)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: MongoClient[dict[str, Any]] = MongoClient(url, tz_aware=True)
        self.clean: list[str] = []
        self.indexed: set[str] = set()  # handed out clean: `mongo` need not ensure its indexes
        self.reference: tuple[Any, ...] | None = None
        self.reference_collections: frozenset[str] = frozenset()

    def _shape(self, name: str) -> tuple[Any, ...]:
        """What a test may have changed besides documents, in two commands: each collection with
        its options, and how many indexes there are (listing each collection's indexes cost 42
        more). No test alters an index in place; one that adds or drops one changes the count.
        The documents, too, for `give_back`."""
        db = self.client[name]
        collections = sorted(
            (collection["name"], str(collection.get("options", {})))
            for collection in db.list_collections()
        )
        stats = db.command("dbStats")
        return tuple(collections), stats["indexes"], stats["objects"]

    def take(self) -> str:
        if self.reference is None:  # the first: indexed as the product indexes, then measured
            name = new_database_name()
            with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever runs here
                thread.submit(asyncio.run, _indexed(self.url, name)).result()
            self.reference = self._shape(name)[:2]
            self.reference_collections = frozenset(c for c, _ in self.reference[0])
            self.clean.append(name)
        if not self.clean:  # none to hand out: a new database, indexed by its user
            return new_database_name()
        name = self.clean.pop()
        self.indexed.add(name)
        return name

    @staticmethod
    def writes_to(name: str) -> int:
        """The writing commands this process has sent to `name` since it was last given back: an
        unchanged count means unchanged documents."""
        seen = WRITES.by_database.get(name)
        return 0 if seen is None else seen.writes

    def give_back(self, name: str) -> None:
        self.indexed.discard(name)
        seen = WRITES.by_database.pop(name, None) or Seen()  # None: nothing written
        if seen.plain(self.reference_collections):
            # Everything written is known (this process's commands; a test that started a
            # process is not given back at all) and changed no collection or index: emptying
            # what was written is enough, without asking the server its shape (a SecantusDB
            # answers dbStats and listCollections in 6 and 2 times a find's time).
            try:
                with pymongo.timeout(RECYCLE_SECONDS):
                    self._empty(self.client[name], sorted(seen.collections))
            except PyMongoError:
                return
            WRITES.by_database.pop(name, None)  # its own deletes
            self.clean.append(name)
            return
        try:
            # Bounded: a transaction left open by a process the test killed holds its documents
            # for a minute (a delete waited 250 s for one): past the bound it is left unused.
            db = self.client[name]
            with pymongo.timeout(RECYCLE_SECONDS):
                *shape, documents = self._shape(name)
                # Thousands of documents take long to delete, and as long to drop (76 s once
                # for a 10,000-entry history): such a database is left as it is, unused.
                if documents > RECYCLE_DOCUMENTS or tuple(shape) != self.reference:
                    raise LookupError(name)
                if documents:
                    self._empty(db, [collection for collection, _ in shape[0]])
                WRITES.by_database.pop(name, None)  # its own deletes
                self.clean.append(name)
                return
        except (PyMongoError, LookupError):
            pass  # not handed out again; the worker's server and its files go with the session

    @staticmethod
    def _empty(db: Any, collections: list[str]) -> None:
        for collection in collections:
            db[collection].delete_many({"$nor": [_KEPT]} if collection == "meta" else {})


# Kept in `meta`: what the product's start leaves in an empty database (the marker of its indexes
# and those of its upgrades), so that the next test's app starts in 10 commands instead of 16, as
# a restarted one does. A test of an upgrade deletes its marker first, as an older version would.
_KEPT = {"_id": {"$in": [INDEXES_MARKER, LEDGER_SHAPE, MOVED, TIER_SINCE]}}


class Seen:
    """What this process's commands did to one database: the collections written to, about how
    many documents were put in, and whether anything besides documents may have changed."""

    def __init__(self) -> None:
        self.collections: set[str] = set()
        self.documents = 0  # inserted or upserted, an upper bound
        self.writes = 0  # insert, update, delete and findAndModify commands sent
        # A collection or an index made, dropped or changed, or documents written where the
        # command does not name (bulkWrite, $out, ...): only the server can say what is left.
        self.reshaped = False

    def plain(self, reference: frozenset[str]) -> bool:
        """Emptying the collections written to gives back a database as it was handed out."""
        return (
            not self.reshaped
            and self.documents <= RECYCLE_DOCUMENTS
            and self.collections <= reference
        )


class Writes(monitoring.CommandListener):
    """What each database was sent by this process's clients (every client, the app's included:
    registered before any is made), so that `Databases.give_back` empties the collections written
    to instead of asking the server what all 42 hold."""

    WRITES = frozenset({"insert", "update", "delete", "findAndModify"})
    # Commands that change what a database holds besides its documents.
    RESHAPES = frozenset(
        {"create", "createIndexes", "drop", "dropIndexes", "collMod", "dropDatabase"}
    )
    # Commands that may write documents elsewhere than the collection they name.
    OTHERS = frozenset({"bulkWrite", "applyOps", "renameCollection", "mapReduce"})

    def __init__(self) -> None:
        self.by_database: dict[str, Seen] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in self.WRITES:
            target = event.command.get(name)
        elif name in self.RESHAPES or name in self.OTHERS or _writes_elsewhere(event):
            target = None
        else:
            return
        seen = self.by_database.setdefault(event.database_name, Seen())
        if name in self.WRITES:
            seen.writes += 1
        if not isinstance(target, str):
            seen.reshaped = True
            return
        seen.collections.add(target)
        command = event.command
        if name == "insert":
            seen.documents += len(command.get("documents", ()))
        elif name == "update":
            seen.documents += sum(
                1 for update in command.get("updates", ()) if update.get("upsert")
            )
        elif name == "findAndModify" and command.get("upsert"):
            seen.documents += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _writes_elsewhere(event: monitoring.CommandStartedEvent) -> bool:
    return event.command_name == "aggregate" and any(
        "$out" in stage or "$merge" in stage for stage in event.command["pipeline"]
    )


WRITES = Writes()
monitoring.register(WRITES)


async def _indexed(url: str, name: str) -> None:
    mongo = connect(url, name)
    try:
        await ensure_indexes(mongo)
    finally:
        await mongo.close()


@pytest.fixture(scope="session")
def databases(mongo_url: str) -> Iterator[Databases]:
    pool = Databases(mongo_url)
    yield pool
    pool.client.close()


@pytest.fixture
def db_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """This test's database: a new name, or an emptied one (see Databases) when the test reaches
    it through `mongo` or `app`, which index it anyway. Torn down after every fixture that uses
    the name, so after any process the test started on it is gone."""
    if not {"mongo", "app"} & set(request.fixturenames):
        yield new_database_name()
        return
    databases: Databases = request.getfixturevalue("databases")
    name = databases.take()
    spawned = SPAWNED.count
    yield name
    if SPAWNED.count == spawned:
        databases.give_back(name)
    # else left as it is, neither emptied nor dropped: a process the test started and killed may
    # have left a transaction open on it, and SecantusDB retries a delete or a drop that meets
    # one without end (its write-conflict retry is unbounded; CI hung there for an hour).


@pytest.fixture
async def mongo(mongo_url: str, db_name: str, databases: Databases) -> AsyncIterator[Mongo]:
    """A connected client on a database of this test's own, indexes ensured."""
    handle = connect(mongo_url, db_name)
    if db_name not in databases.indexed:  # the test changed nothing else so far: still as taken
        await ensure_indexes(handle)
    databases.indexed.discard(db_name)
    try:
        yield handle
    finally:
        await handle.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(mongo_url: str, db_name: str, tmp_path: Path) -> Settings:
    # The API tests run dozens of requests at once in this one event loop on a shared machine: a
    # request's time budget (5 s in production) is widened here so that races resolve by their
    # rules, not by the clock. tests/test_database_down.py tests the budget itself.
    return Settings(
        env=Environment.TEST,
        mongodb_url=mongo_url,
        db_name=db_name,
        data_dir=tmp_path / "data",
        request_timeout_seconds=60,
    )


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    """The real ASGI app with its lifespan run (database opened, indexes ensured, keys loaded)."""
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as http:
        yield http


@pytest.fixture
async def standard_hashes(app: Starlette) -> None:
    """Passwords hashed at the production cost from here on (the app hashes at argon2's lightest
    under JIFEN_ENV=test, app/auth/passwords.py): for the tests that measure what hashing costs.
    The next app's start sets the light cost again."""
    await prepare_passwords(light=False)


@pytest.fixture
def runtime(app: Starlette) -> Runtime:
    result: Runtime = app.state.runtime
    return result


@pytest.fixture
def issuer(runtime: Runtime) -> TokenIssuer:
    assert runtime.issuer is not None
    return runtime.issuer
