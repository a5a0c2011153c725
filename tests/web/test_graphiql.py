"""GraphiQL in dev mode works with no network beyond our own origin (issue 12)."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, Route

from tests.web.conftest import Served, errors_of

ASSET = re.compile(r'(?:src|href)="(/[^"]+)"\s+integrity="(sha384-[^"]+)"')


def test_the_graphiql_page_names_only_local_assets_each_matching_its_integrity(
    served: Served,
) -> None:
    page = httpx.get(f"{served.base}/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "unpkg.com" not in page.text and "jsdelivr" not in page.text
    assets = ASSET.findall(page.text)
    assert len(assets) == 7, (
        assets
    )  # react, react-dom, js-cookie, graphiql and its explorer: js+css
    for path, integrity in assets:
        answer = httpx.get(served.base + path)
        assert answer.status_code == 200, path
        digest = base64.b64encode(hashlib.sha384(answer.content).digest()).decode()
        assert f"sha384-{digest}" == integrity, f"{path} is not the file strawberry names"


def test_graphiql_renders_and_runs_a_query_with_every_other_origin_cut_off(
    browser: Browser, served: Served
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    elsewhere: list[str] = []
    ours = urlsplit(served.base).netloc

    def only_ours(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == ours or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", only_ours)
    errors = errors_of(page)  # a script or style its Content-Security-Policy refused among them
    page.goto(f"{served.base}/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.wait_for(timeout=15_000)
    page.evaluate(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
        ".setValue('{ program { name currency } }')"
    )
    page.locator(".graphiql-execute-button").click()
    result = page.locator(".graphiql-response")
    result.get_by_text("Jifen Demo Mall").wait_for(timeout=15_000)
    served.screenshot(page, "graphiql")
    context.close()
    assert elsewhere == [], f"GraphiQL asked for other origins: {elsewhere}"
    assert errors == [], "\n".join(errors)
