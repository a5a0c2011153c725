"""The README documents every setting, starts with the two commands `.ci/run` relies on, and says
what `.ci/run` does and what the test command needs beyond pip."""

from __future__ import annotations

import re
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


def paragraph(text: str, starting: str) -> str:
    """The README's paragraph that starts with `starting`."""
    found = [part for part in text.split("\n\n") if part.startswith(starting)]
    assert len(found) == 1, f"the README has no paragraph starting {starting!r}"
    return " ".join(found[0].split())


def test_the_readme_says_what_ci_run_does_and_what_the_test_command_needs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    says = paragraph(readme, "`.ci/run`")
    browser = paragraph(readme, "The browser tests (`tests/web`)")
    commands = [line.strip() for line in ci.splitlines() if not line.strip().startswith("#")]
    installed = [
        word
        for line in commands
        for install in re.findall(r"apt-get install([^;&|>]*)", line)
        for word in install.split()
        if not word.startswith("-")
    ]
    assert "chromium" in installed
    for package in installed:  # what the tests need beyond pip, said beside the test command
        assert f"`{package}`" in says and package in browser, package
    for line in commands:
        for tool, rest in re.findall(r"\.venv/bin/(\w+)([^;&|]*)", line):
            args = rest.split()
            if tool == "pip":  # "makes its own venv"
                continue
            if tool == "python":  # a script, or each bench with its flag
                named = next(arg for arg in args if arg.endswith(".py") or arg.startswith("--"))
                phrase = Path(named).name
            elif tool == "ruff":
                phrase = f"ruff {args[0]}"
            elif tool == "pytest":
                phrase = "test command"
            else:
                phrase = tool
            assert phrase in says, f".ci/run runs {tool} {rest.strip()}; the README does not say"
