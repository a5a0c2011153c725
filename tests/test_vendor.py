"""The vendored browser files are exactly what web/vendor/VERSIONS.json records."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "web" / "vendor"


def test_every_vendored_file_matches_versions_json() -> None:
    versions = json.loads((VENDOR / "VERSIONS.json").read_text())
    assert versions, "nothing vendored"
    listed: set[Path] = set()
    for name, entry in versions.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), name
        assert entry["integrity"].startswith("sha512-"), name
        assert any("LICENSE" in path for path in entry["files"]), f"{name} has no LICENSE"
        for path, digest in entry["files"].items():
            data = (VENDOR / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, path
            listed.add((VENDOR / path).resolve())
    on_disk = {p.resolve() for p in VENDOR.rglob("*") if p.is_file() and p.name != "VERSIONS.json"}
    assert on_disk == listed, "a file under web/vendor is not in VERSIONS.json (or one is missing)"


def test_vendored_modules_import_nothing_from_outside() -> None:
    for module in VENDOR.rglob("*.js"):
        text = module.read_text()
        assert not re.search(r"""(?:import|from)\s*\(?\s*['"]https?://""", text), module
        for spec in re.findall(
            r"""^(?:import|export)\b[^;'"]*from\s*['"]([^'"]+)['"]""", text, re.MULTILINE
        ):
            assert spec.startswith("./"), f"{module} imports bare {spec}"
            assert (module.parent / spec).exists(), f"{module} imports missing {spec}"
