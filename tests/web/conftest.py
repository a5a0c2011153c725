"""A real served app (uvicorn on the test database, demo seeded) and one headless Chromium."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
    sync_playwright,
)

from app.auth import PrincipalKind, TokenIssuer
from app.db import Mongo, connect
from app.seed import DEMO_PASSWORD, DEMO_PHONE
from tests.processes import JIFEN, api_process, jifen_env, new_database_name, served_issuer

T = TypeVar("T")

# Where the screenshots go: this folder when the run names one (for a person to look at), else
# the session's temporary folder. Never a path outside both.
SCREENSHOTS = "JIFEN_SCREENSHOTS"


class Served:
    def __init__(self, base: str, env: dict[str, str], screens: Path) -> None:
        self.base, self.env, self.screens = base, env, screens

    def jifen(self, *args: str) -> str:
        done = subprocess.run([JIFEN, *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    @functools.cached_property
    def _issuer(self) -> TokenIssuer:
        return served_issuer(Path(self.env["JIFEN_DATA_DIR"]))

    def admin_token(self, subject: str, *scopes: str) -> str:
        """An operator's token signed with the served app's key, minted here: `jifen token admin`
        as a process costs half a second of CPU each time (tests/test_cli*.py run it)."""
        return self._issuer.mint(PrincipalKind.ADMIN, subject, scopes=scopes)

    def gql(self, query: str, token: str | None = None, **variables: object) -> dict[str, object]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer = httpx.post(
            f"{self.base}/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = answer.json()
        assert "errors" not in body, body
        data: dict[str, object] = body["data"]
        return data

    def arrange(self, work: Callable[[Mongo], Awaitable[T]]) -> T:
        """Run `work` on the served database (the product's own services, as the worker or the
        ledger would), in a thread of its own: Playwright's sync API owns this thread's loop."""

        async def run() -> T:
            mongo = connect(self.env["JIFEN_MONGODB_URL"], self.env["JIFEN_DB_NAME"])
            try:
                return await work(mongo)
            finally:
                await mongo.close()

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()

    def member_token(self) -> str:
        query = "mutation($i: LogInInput!) { logIn(input: $i) { session { accessToken } } }"
        data = self.gql(query, i={"phone": DEMO_PHONE, "password": DEMO_PASSWORD})
        return str(data["logIn"]["session"]["accessToken"])  # type: ignore[index]

    def screenshot(self, page: Page, name: str) -> None:
        page.screenshot(path=str(self.screens / f"{name}.png"), full_page=True)


def errors_of(page: Page) -> list[str]:
    """Every error the page reports from now on: console errors (CSP violations among them),
    uncaught exceptions and requests the browser refused or failed."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def failed(request: Request) -> None:
        errors.append(f"{request.url}: {request.failure}")

    def answered(response: Response) -> None:
        if response.status >= 400:
            errors.append(f"{response.url}: HTTP {response.status}")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", failed)
    page.on("response", answered)
    return errors


def sign_in(
    page: Page, served: Served, phone: str = DEMO_PHONE, password: str = DEMO_PASSWORD
) -> None:
    """Open the member page and sign in (by the fields' ids: the labels follow the language)."""
    page.goto(f"{served.base}/m/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.locator("#phone").fill(phone)
    page.locator("#password").fill(password)
    page.locator("#login [type=submit]").click()
    expect(page.locator("#home")).to_be_visible()


@pytest.fixture(scope="package")
def served(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("web")
    env = jifen_env(mongo_url, new_database_name(), root / "data")
    env["JIFEN_ENV"] = "dev"  # GraphiQL is served in dev only
    subprocess.run([JIFEN, "seed-demo"], env=env, check=True, capture_output=True)
    with api_process(env, root / "uvicorn.log") as port:
        screens = Path(os.environ.get(SCREENSHOTS) or root / "screens")
        screens.mkdir(parents=True, exist_ok=True)
        yield Served(f"http://127.0.0.1:{port}", env, screens)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Package-scoped: sync Playwright keeps an event loop running in this thread while it is open, so
    it must close before any asyncio test runs after tests/web in the same process (xdist may order so)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def phone(browser: Browser) -> Iterator[Page]:
    """One phone-sized page (390x844) reused by the tests, in Chinese as a Chinese phone would be."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()
