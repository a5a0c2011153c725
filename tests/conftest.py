"""Shared fixtures: one real SecantusDB process per test session, a fresh database per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from starlette.applications import Starlette

from app.auth import TokenIssuer
from app.clock import FrozenClock
from app.config import Environment, Settings
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.main import create_app
from app.runtime import Runtime

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
# one xdist worker runs them all (`--dist loadgroup`), so the browser starts once.
SHARED_BROWSER = "tests/web/"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    rank = {module: n for n, module in enumerate(SLOW_FIRST)}

    def place(item: pytest.Item) -> int:
        return rank.get(item.path.relative_to(root).as_posix(), len(rank))

    for item in items:
        if item.path.relative_to(root).as_posix().startswith(SHARED_BROWSER):
            item.add_marker(pytest.mark.xdist_group("browser"))
    items.sort(key=place)  # stable: each module's tests keep their order, modules stay whole


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
    (anything else, or any doubt, and it is dropped as before)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: MongoClient[dict[str, Any]] = MongoClient(url, tz_aware=True)
        self.clean: list[str] = []
        self.indexed: set[str] = set()  # handed out clean: `mongo` need not ensure its indexes
        self.reference: dict[str, Any] | None = None

    def _shape(self, name: str) -> dict[str, Any]:
        """What a test may have changed besides documents: collections, options, indexes."""
        db = self.client[name]
        return {
            collection["name"]: (
                collection.get("options", {}),
                sorted(
                    str(sorted(index.items())) for index in db[collection["name"]].list_indexes()
                ),
            )
            for collection in db.list_collections()
        }

    def take(self) -> str:
        if self.reference is None:  # the first: indexed as the product indexes, then measured
            name = f"t_{uuid.uuid4().hex[:12]}"
            with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever runs here
                thread.submit(asyncio.run, _indexed(self.url, name)).result()
            self.reference = self._shape(name)
            self.clean.append(name)
        if not self.clean:  # the last one was dropped: a new database, indexed by its user
            return f"t_{uuid.uuid4().hex[:12]}"
        name = self.clean.pop()
        self.indexed.add(name)
        return name

    def give_back(self, name: str) -> None:
        self.indexed.discard(name)
        try:
            # Bounded: a transaction left open by a process the test killed holds its documents
            # for a minute (a delete waited 250 s for one), and dropping does not wait for it.
            db = self.client[name]
            with pymongo.timeout(RECYCLE_SECONDS):
                # Thousands of documents take longer to delete than the database to drop.
                small = db.command("dbStats")["objects"] <= RECYCLE_DOCUMENTS
                if small and self._shape(name) == self.reference:
                    for collection in db.list_collection_names():
                        if db[collection].find_one({}, {"_id": 1}) is not None:
                            db[collection].delete_many({})
                    self.clean.append(name)
                    return
        except PyMongoError:
            pass
        self.client.drop_database(name)


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
        yield f"t_{uuid.uuid4().hex[:12]}"
        return
    databases: Databases = request.getfixturevalue("databases")
    name = databases.take()
    yield name
    databases.give_back(name)


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
def runtime(app: Starlette) -> Runtime:
    result: Runtime = app.state.runtime
    return result


@pytest.fixture
def issuer(runtime: Runtime) -> TokenIssuer:
    assert runtime.issuer is not None
    return runtime.issuer
