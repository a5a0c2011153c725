"""The README documents every setting and starts with the two commands `.ci/run` relies on."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"JIFEN_{name.upper()}"
        for name in Settings.model_fields
        if f"JIFEN_{name.upper()}" not in readme
    ]
    assert not missing, missing


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"
    assert command in readme
    assert command in ci
