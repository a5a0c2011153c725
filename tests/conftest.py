"""Shared fixtures: one real SecantusDB process per test session, a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SecantusDB server (test commands on, for configureFailPoint) shared by the whole session."""
    external = os.environ.get("JIFEN_TEST_MONGODB_URL")
    if external:
        yield external
        return
    root: Path = tmp_path_factory.mktemp("secantus")
    server = EmbeddedMongo(root / "db", enable_test_commands=True)
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
