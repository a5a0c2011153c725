"""What /m serves: every file from our origin, with the right content type, nothing from a CDN."""

from __future__ import annotations

import re

import httpx

from tests.web.conftest import Served

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']https?://|(?:import|from)\s*\(?\s*["']https?://""")

LOCAL = re.compile(
    r"""(?:src|href)=["']([^"']+)["']|^(?:import|export)\b[^;'"]*from\s*["']([^"']+)["']""",
    re.MULTILINE,
)


def test_the_member_page_loads_only_from_its_origin(served: Served) -> None:
    pending, seen = ["/m/"], set[str]()
    while pending:
        path = pending.pop()
        answer = httpx.get(served.base + path)
        assert answer.status_code == 200, path
        kind = answer.headers["content-type"]
        expected = {"html": "text/html", "js": "javascript", "css": "text/css"}
        suffix = "html" if path.endswith("/") else path.rsplit(".", 1)[-1]
        assert expected[suffix] in kind, (path, kind)
        assert not EXTERNAL.search(answer.text), f"{path} loads from another origin"
        seen.add(path)
        base = path.rsplit("/", 1)[0] + "/"
        found = LOCAL.findall(answer.text)
        for local in (a or b for a, b in found if not (a or b).startswith("data:")):
            target = local if local.startswith("/") else base + local.removeprefix("./")
            if target not in seen and target not in pending:
                pending.append(target)
    assert "/vendor/graphql-ws/dist/client.js" in seen
    assert "/vendor/graphql-ws/dist/common-CGW11Fyb.js" in seen  # its relative import
