"""The member page keeps its session and its live socket: the access token is refreshed before it
expires and the socket reopened with the new one; a dropped socket is reopened and warnings keep
arriving."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.web.conftest import Served, sign_in

ACCESS_TTL_MINUTES = 15  # JIFEN_ACCESS_TOKEN_TTL_SECONDS' default; the page refreshes 1 min before


class Sockets:
    """Every /graphql WebSocket the page opens, passed through to the server, with the token each
    connection_init carried."""

    def __init__(self) -> None:
        self.routes: list[WebSocketRoute] = []
        self.tokens: list[str] = []

    def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self.routes.append(ws)

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "connection_init":
                self.tokens.append(frame["payload"]["Authorization"].removeprefix("Bearer "))
            server.send(message)

        ws.on_message(from_page)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    yield context.new_page()
    context.close()


def _wait_until(page: Page, condition: Callable[[], bool], timeout_ms: int = 15_000) -> None:
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError("timed out")


def _sign_in(page: Page, served: Served, sockets: Sockets) -> None:
    page.route_web_socket("**/graphql", sockets.route)
    sign_in(page, served)
    _wait_until(page, lambda: len(sockets.tokens) == 1)


def _api_call_token(page: Page) -> str:
    """The token the page's own API module sends with its next request."""
    with page.expect_request(lambda r: r.url.endswith("/graphql") and r.method == "POST") as sent:
        page.evaluate("import('/m/api.js').then((api) => api.gql('{ me { id } }'))")
    return sent.value.headers["authorization"].removeprefix("Bearer ")


def test_the_token_is_refreshed_before_it_expires_and_the_socket_reopened_with_it(
    page: Page, served: Served
) -> None:
    sockets = Sockets()
    page.clock.install()  # the page's timers run on a clock the test can move
    _sign_in(page, served, sockets)
    first = _api_call_token(page)
    assert sockets.tokens == [first]

    refreshed = lambda r: "refreshSession" in (r.post_data or "")  # noqa: E731
    with page.expect_request(refreshed, timeout=15_000):
        page.clock.fast_forward(f"{ACCESS_TTL_MINUTES - 1}:01")
    _wait_until(page, lambda: len(sockets.tokens) == 2)

    second = _api_call_token(page)
    assert second != first
    assert sockets.tokens == [first, second]  # the socket now holds the new token
    me = served.gql("{ me { id } }", second)["me"]
    assert me, "the refreshed token is accepted by the server"


def test_warnings_keep_arriving_after_the_socket_drops(page: Page, served: Served) -> None:
    sockets = Sockets()
    _sign_in(page, served, sockets)
    sockets.routes[0].close(code=1011, reason="dropped by the test")  # graphql-ws gives up on 1011
    _wait_until(page, lambda: len(sockets.tokens) == 2)

    banner = page.locator("#live")
    count = int(banner.get_attribute("data-count") or 0)
    query = "{ me { balance { nextExpiry { points expiresAt } } } }"
    soonest = served.gql(query, served.member_token())["me"]["balance"]["nextExpiry"]  # type: ignore[index]
    expires = datetime.fromisoformat(soonest["expiresAt"])
    as_of = max(expires - timedelta(days=5), datetime.now(UTC))  # inside the 7-day lead
    served.jifen("warn", "--as-of", as_of.isoformat())
    expect(banner).not_to_have_attribute("data-count", str(count), timeout=15_000)
    expect(banner).to_contain_text(str(soonest["points"]))
    served.screenshot(page, "m-6-warning-after-reconnect")
