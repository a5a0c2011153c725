"""The client address that log-in throttling counts, behind no proxy and behind trusted ones.

Through `jifen serve` (a real uvicorn with its real peer addresses): the test client connects
from 127.0.0.1 and claims other addresses in X-Forwarded-For.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.auth.throttle import FAILURES_PER_ADDRESS
from app.config import ConfigurationError, load_settings
from app.embedded import free_port
from app.proxies import client_address, parse_networks
from tests.processes import jifen_env, start_serve, stop, wait_ready

LOG_IN = """
mutation($input: LogInInput!) { logIn(input: $input) { userErrors { code } } }"""


def serve(mongo_url: str, db_name: str, tmp_path: Path, **settings: str) -> Iterator[str]:
    port = free_port()
    env = jifen_env(mongo_url, db_name, tmp_path / "data", **settings)
    process = start_serve(env, port, tmp_path / "serve.log")
    try:
        wait_ready(port, process)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        stop(process)


@pytest.fixture
def direct(mongo_url: str, db_name: str, tmp_path: Path) -> Iterator[str]:
    yield from serve(mongo_url, db_name, tmp_path)


@pytest.fixture
def behind_proxies(mongo_url: str, db_name: str, tmp_path: Path) -> Iterator[str]:
    yield from serve(mongo_url, db_name, tmp_path, trusted_proxies="127.0.0.1, 10.0.0.0/8")


def log_in(url: str, n: int, forwarded_for: str) -> str:
    variables = {"input": {"phone": f"139{n:08d}", "password": "guess"}}
    response = httpx.post(
        url,
        json={"query": LOG_IN, "variables": variables},
        headers={"x-forwarded-for": forwarded_for},
        timeout=30,
    )
    code: str = response.json()["data"]["logIn"]["userErrors"][0]["code"]
    return code


def test_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(direct: str) -> None:
    answers = [log_in(direct, n, f"198.51.100.{n}") for n in range(FAILURES_PER_ADDRESS)]
    assert set(answers) == {"INVALID_CREDENTIALS"}
    # Every guess came from 127.0.0.1, whatever the header claimed: that address is locked.
    assert log_in(direct, 99, "198.51.100.99") == "RATE_LIMITED"


def test_a_trusted_proxy_forwards_the_right_most_address_it_does_not_trust(
    behind_proxies: str,
) -> None:
    # The client may write anything on the left; the proxies append what they saw on the right.
    for n in range(FAILURES_PER_ADDRESS):
        forged = f"198.51.100.{n}, 203.0.113.7, 10.0.0.2"
        assert log_in(behind_proxies, n, forged) == "INVALID_CREDENTIALS"
    assert log_in(behind_proxies, 98, "192.0.2.1, 203.0.113.7, 10.0.0.2") == "RATE_LIMITED"
    # Another client behind the same proxies is not locked with it.
    assert log_in(behind_proxies, 99, "203.0.113.8, 10.0.0.2") == "INVALID_CREDENTIALS"


PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("192.0.2.1", ["203.0.113.7"], "192.0.2.1"),  # not from a proxy: the header is ignored
        ("10.0.0.2", [], "10.0.0.2"),  # a proxy without the header is the client
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7, 10.0.0.3"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1", "203.0.113.7"], "203.0.113.7"),  # two header lines
        ("10.0.0.2", ["10.0.0.9, 10.0.0.3"], "10.0.0.9"),  # only proxies: the farthest one
        ("10.0.0.2", ["203.0.113.7:4431"], "203.0.113.7"),
        ("10.0.0.2", ["[2001:db9::1]:443"], "2001:db9::1"),
        ("2001:db8::5", ["2001:db9::1"], "2001:db9::1"),
        ("10.0.0.2", ["203.0.113.7, garbage, 10.0.0.3"], "10.0.0.3"),
        ("10.0.0.2", ["<script>"], "10.0.0.2"),
        (None, ["203.0.113.7"], None),
    ],
)
def test_the_client_is_the_right_most_address_no_trusted_proxy_wrote(
    peer: str | None, forwarded_for: list[str], client: str | None
) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7"], []) == "127.0.0.1"


def test_a_malformed_trusted_proxy_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIFEN_TRUSTED_PROXIES", "10.0.0.0/8, the load balancer")
    with pytest.raises(ConfigurationError, match="JIFEN_TRUSTED_PROXIES"):
        load_settings()
