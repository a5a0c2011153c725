"""Shared fixtures: one real SecantusDB process per test session, a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.auth.tokens import TokenIssuer
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
# Tests that share one served app and one Chromium (session fixtures in tests/web/conftest.py):
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


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def mongo(mongo_url: str, db_name: str) -> AsyncIterator[Mongo]:
    """A connected client on a database of this test's own, indexes ensured; dropped afterwards."""
    handle = connect(mongo_url, db_name)
    await ensure_indexes(handle)
    try:
        yield handle
    finally:
        await handle.client.drop_database(db_name)
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
    mongo = connect(settings.mongodb_url or "", settings.db_name)
    await mongo.client.drop_database(settings.db_name)
    await mongo.close()


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
