"""Limits seen from outside, against a real uvicorn process: one abusive request must not stall the
event loop for everybody else."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import api_process, jifen_env

# 30 fragments, each spreading the next twice: 1.2 KB that expands to 2^30 fields.
FRAGMENT_BOMB = (
    "query { ...F0 } "
    + " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(30))
    + " fragment F30 on Query { __typename }"
)


@pytest.fixture
def port(mongo_url: str, db_name: str, tmp_path: Path) -> Iterator[int]:
    with api_process(jifen_env(mongo_url, db_name, tmp_path / "data"), tmp_path / "api.log") as p:
        yield p


async def test_a_fragment_bomb_is_refused_while_healthz_keeps_answering(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        bomb = asyncio.create_task(http.post("/graphql", json={"query": FRAGMENT_BOMB}))
        health = [await http.get("/healthz") for _ in range(3)]
        refused = await bomb
    assert [response.status_code for response in health] == [200, 200, 200]
    body = refused.json()
    assert body["data"] is None
    assert "fields once its fragments are expanded" in body["errors"][0]["message"]
