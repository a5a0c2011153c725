"""GraphiQL (dev mode) with its scripts and styles served from /vendor instead of unpkg.com.

Strawberry's page names each asset as https://unpkg.com/<package>@<version>/<path> with its
subresource integrity. Offline (operators' networks, our test machines) that page shows only
"Loading...", so the same page is served with each URL pointing at the copy scripts/vendor.py
pinned under web/vendor/. The integrity attributes stay: the browser checks that the local file
is byte for byte the one strawberry names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

CDN_ASSET = re.compile(r'https://unpkg\.com/((?:@[\w.-]+/)?[\w.-]+)@([\w.-]+)/([^"\s]+)')
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


class AssetNotVendored(RuntimeError):
    """Strawberry's page names an asset that web/vendor does not hold at that version."""


def local_graphiql_html(vendor_dir: Path) -> str:
    """Strawberry's GraphiQL page with every unpkg.com asset served from /vendor.

    Raises AssetNotVendored at start-up when strawberry names a package, version or file that
    is not vendored (an upgrade of strawberry must come with `python scripts/vendor.py`).
    """
    versions = json.loads((vendor_dir / "VERSIONS.json").read_text())

    def local(match: re.Match[str]) -> str:
        name, version, path = match.groups()
        entry = versions.get(name)
        if entry is None or entry["version"] != version or f"{name}/{path}" not in entry["files"]:
            raise AssetNotVendored(f"{name}@{version}/{path} is not in {vendor_dir}")
        return f"/vendor/{name}/{path}"

    return CDN_ASSET.sub(local, get_graphql_ide_html(graphql_ide="graphiql"))


def graphiql_policy(html: str) -> str:
    """The Content-Security-Policy the page needs and no more: its scripts from our origin and
    its own inline script (by hash), styles inline (React's and the page's own), data: icons and
    fonts, connections to our origin (HTTP and WebSocket); nothing from another host."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
