"""The console and the member page carry password and sign-in forms: no page of another origin may
frame them (clickjacking), and they run under a Content-Security-Policy that allows scripts from
our own origin only, with no error in the browser's console."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from app.seed import DEMO_PASSWORD, DEMO_PHONE
from tests.web.conftest import Served, errors_of


@pytest.mark.parametrize("path", ["/console/", "/m/", "/graphql"])
def test_every_page_and_answer_carries_the_security_headers(served: Served, path: str) -> None:
    for answer in (
        httpx.get(served.base + path, headers={"accept": "text/html"}),
        httpx.post(f"{served.base}/graphql", json={"query": "{ program { name } }"}),
        httpx.get(f"{served.base}/healthz"),
        httpx.get(f"{served.base}/lib/dom.js"),
    ):
        headers = answer.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], answer.url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
    page = httpx.get(served.base + path, headers={"accept": "text/html"})
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "http" not in policy


@pytest.fixture
def isolated(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def elsewhere(served: Served) -> Iterator[str]:
    """Another origin (same host, another port) serving a page that frames ours: /frame?path=..."""
    base = served.base

    class Framing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = parse_qs(urlsplit(self.path).query)["path"][0]
            body = f'<p>win a prize</p><iframe id="f" src="{base}{path}"></iframe>'.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Framing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.mark.parametrize("path", ["/console/", "/m/"])
def test_a_page_of_another_origin_cannot_frame_it(
    isolated: Page, elsewhere: str, path: str
) -> None:
    page = isolated
    page.goto(f"{elsewhere}/frame?path={path}")  # waits for the load event, so for the frame's
    framed = next(frame for frame in page.frames if frame is not page.main_frame)
    assert framed.url.startswith("chrome-error://"), f"{path} was framed: {framed.url}"
    expect(page.frame_locator("#f").locator("form")).to_have_count(0)


def test_the_console_works_under_its_policy_with_no_console_error(
    isolated: Page, served: Served
) -> None:
    page = isolated
    errors = errors_of(page)
    page.goto(f"{served.base}/console/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    token = served.admin_token(
        "ops-csp", "members:read", "reports:read", "audit:read", "program:read", "catalog:read"
    )
    page.get_by_label("Admin token").fill(token)
    page.locator("#signin [type=submit]").click()
    expect(page.locator("body")).to_have_attribute("data-page", "dashboard")
    for name in ("program", "members", "catalog", "reports", "audit", "import"):
        page.goto(f"{served.base}/console/#/{name}")
        expect(page.locator("body")).to_have_attribute("data-page", name)
    assert errors == [], "\n".join(errors)


def test_the_member_page_works_under_its_policy_with_no_console_error(
    isolated: Page, served: Served
) -> None:
    page = isolated
    errors = errors_of(page)
    page.goto(f"{served.base}/m/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.locator("#phone").fill(DEMO_PHONE)
    page.locator("#password").fill(DEMO_PASSWORD)
    with page.expect_websocket(timeout=15_000) as opened:  # live warnings (connect-src)
        page.locator("#login [type=submit]").click()
    opened.value.wait_for_event(
        "framereceived", predicate=lambda frame: "connection_ack" in str(frame), timeout=15_000
    )
    expect(page.locator("#home")).to_be_visible()
    expect(page.locator("#catalog li").first).to_be_visible()
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("path", ["/console/", "/m/"])
def test_a_page_reloaded_from_the_browsers_copy_keeps_its_policy(
    isolated: Page, served: Served, path: str
) -> None:
    """A reload revalidates the page (304, no content type): the browser keeps the headers of its
    copy unless the 304 replaces them, so it must not carry the policy that allows nothing."""
    page = isolated
    first = httpx.get(served.base + path)
    validators = {"if-none-match": first.headers["etag"]}
    again = httpx.get(served.base + path, headers=validators)
    assert again.status_code == 304 and "content-security-policy" not in again.headers
    errors = errors_of(page)
    page.goto(served.base + path)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert errors == [], "\n".join(errors)
