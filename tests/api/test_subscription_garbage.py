"""An ended subscription is freed by reference counting, not left for a full collection.

A full collection walks every live object in one pause (app/long_lived.py); what an ended
subscription leaves in a reference cycle waits for one. So, with the cyclic collector off and
no collection run meanwhile, the subscription's execution context must be gone once it ends
(graphql-core's context kept its own bound methods: graphql_schema/engine/acyclic.py).
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.auth import PrincipalKind
from graphql_schema.engine.acyclic import AcyclicExecutionContext

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"


def live_contexts() -> list[AcyclicExecutionContext]:
    return [o for o in gc.get_objects() if isinstance(o, AcyclicExecutionContext)]


@pytest.fixture
def collections_run() -> Iterator[list[int]]:
    """The cyclic collector off, and every collection that still runs (an explicit gc.collect)
    noted: the test's finding holds only if none ran."""
    seen: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()
    gc.disable()
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.enable()


def wait_for(condition: Any, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_subscription_whose_socket_closed_leaves_nothing_for_the_cyclic_collector(
    app, issuer, collections_run
) -> None:
    with TestClient(app) as http:
        collections_run.clear()  # the app's start collects once, on purpose (app/long_lived.py)
        with http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            token = issuer.mint(PrincipalKind.MEMBER, "m_1")
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            ws.send_json(init)
            assert ws.receive_json()["type"] == "connection_ack"
            before = set(map(id, live_contexts()))
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            assert wait_for(lambda: [c for c in live_contexts() if id(c) not in before])
            (running,) = [weakref.ref(c) for c in live_contexts() if id(c) not in before]
        assert wait_for(lambda: running() is None), "the ended subscription's context lives on"
        assert collections_run == []
