"""Vendor pinned npm packages into web/vendor/ (stdlib only; run by hand, never at serve time).

Each package's tarball comes from the npm registry, is checked against the registry's
`dist.integrity` (sha512) and, when PINS gives one, against the integrity pinned here; then
the listed files and the package's LICENSE are written under web/vendor/<name>/ and
web/vendor/VERSIONS.json records name, version, integrity and each file's sha256.

    python scripts/vendor.py            # write web/vendor/
    python scripts/vendor.py --check    # re-download and compare with what is committed
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "web" / "vendor"

# name -> (version, integrity or "" to take the registry's on first vendoring, files in package/)
PINS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "graphql-ws": (
        "6.4.2",
        "sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/uaUuiVUxwO9ssI9R92buQfNSqQ==",
        ("dist/client.js", "dist/common-CGW11Fyb.js"),
    ),
    # GraphiQL in dev mode: the versions strawberry's page names (graphql_schema/engine/ide.py
    # serves it with these local paths instead of unpkg.com)
    "react": (
        "18.2.0",
        "sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==",
        ("umd/react.production.min.js",),
    ),
    "react-dom": (
        "18.2.0",
        "sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g==",
        ("umd/react-dom.production.min.js",),
    ),
    "js-cookie": (
        "3.0.5",
        "sha512-cEiJEAEoIbWfCZYKWhVwFuvPX1gETRYPw6LlaTKoxD3s2AkXzkCjnp6h0V77ozyqj0jakteJ4YqDJT830+lVGw==",
        ("dist/js.cookie.min.js",),
    ),
    "graphiql": (
        "3.8.3",
        "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
        ("graphiql.min.js", "graphiql.min.css"),
    ),
    "@graphiql/plugin-explorer": (
        "1.0.2",
        "sha512-9j+kg2UjtLZD5EBmGjeWHkoVVxtbShYg2DzbUVebibnZYZM/iMBEF4vaccXJIAm5KaomIPLx0aoNs4LbODyc3Q==",
        ("dist/index.umd.js", "dist/style.css"),
    ),
}
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license", "LICENCE")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - fixed https registry
        data: bytes = answer.read()
        return data


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_package(name: str, version: str, pinned: str) -> tuple[bytes, str]:
    """The tarball and its integrity, refused if it differs from the registry's or the pin."""
    meta = json.loads(_get(f"{REGISTRY}/{name}/{version}"))
    integrity = meta["dist"]["integrity"]
    if pinned and pinned != integrity:
        raise SystemExit(f"{name}@{version}: registry integrity {integrity} != pinned {pinned}")
    tarball = _get(meta["dist"]["tarball"])
    if _sri(tarball) != integrity:
        raise SystemExit(f"{name}@{version}: tarball does not match its integrity")
    return tarball, integrity


def extract(tarball: bytes, wanted: tuple[str, ...]) -> dict[str, bytes]:
    """The wanted files (paths inside package/) plus the first LICENSE found."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if m.isfile()}
        for path in wanted:
            handle = archive.extractfile(members[path])
            assert handle is not None
            out[path] = handle.read()
        for license_name in LICENSE_NAMES:
            if license_name in members:
                handle = archive.extractfile(members[license_name])
                assert handle is not None
                out[license_name] = handle.read()
                break
        else:  # a package without a licence file: its declared SPDX licence, said so
            handle = archive.extractfile(members["package.json"])
            assert handle is not None
            declared = json.loads(handle.read()).get("license")
            if not declared:
                raise SystemExit("no LICENSE in package and none declared")
            out["LICENSE"] = (
                f"SPDX-License-Identifier: {declared}\n(declared in the package's package.json;"
                " the package ships no licence file)\n"
            ).encode()
    return out


def vendor(check: bool) -> int:
    versions: dict[str, dict[str, object]] = {}
    for name, (version, pinned, wanted) in sorted(PINS.items()):
        tarball, integrity = fetch_package(name, version, pinned)
        files = extract(tarball, wanted)
        listed: dict[str, str] = {}
        for path, data in sorted(files.items()):
            target = VENDOR / name / path
            listed[f"{name}/{path}"] = hashlib.sha256(data).hexdigest()
            if check:
                if not target.exists() or target.read_bytes() != data:
                    print(f"differs: {target}", file=sys.stderr)
                    return 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        versions[name] = {"version": version, "integrity": integrity, "files": listed}
    text = json.dumps(versions, indent=2, sort_keys=True) + "\n"
    record = VENDOR / "VERSIONS.json"
    if check:
        return 0 if record.exists() and record.read_text() == text else 1
    record.write_text(text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    return vendor(parser.parse_args().check)


if __name__ == "__main__":
    raise SystemExit(main())
