"""One data folder whatever the current directory: only `serve` makes it, other commands refuse.

Also the CLI's small promises: every option explains itself, `jifen --help` groups the commands
by task, and a token names someone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import jwt

from app.auth import PrincipalKind
from app.cli import build_parser
from app.cli.tasks import OTHER, TASKS
from tests.processes import JIFEN, jifen_env, served_issuer


def _run(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JIFEN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _unconfigured_env(tmp_path: Path) -> dict[str, str]:
    """No JIFEN_* at all (the embedded default), the platform's data folder under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def test_a_command_without_a_data_folder_refuses_and_says_where_it_looked(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    default = tmp_path / "xdg" / "jifen"
    for command in (["ledger", "verify"], ["token", "admin", "ops"], ["program", "show"]):
        done = _run(_unconfigured_env(tmp_path), *command, cwd=elsewhere)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"no Jifen data folder at {default}" in done.stderr
        assert "JIFEN_DATA_DIR" in done.stderr and "Traceback" not in done.stderr
    assert not default.exists()
    assert list(elsewhere.iterdir()) == []  # no .jifen-data, no database, no keys


def test_a_named_data_folder_that_does_not_exist_is_refused_too(tmp_path: Path) -> None:
    env = {**_unconfigured_env(tmp_path), "JIFEN_DATA_DIR": str(tmp_path / "typo")}
    done = _run(env, "ledger", "verify")
    assert done.returncode == 2
    assert f"no Jifen data folder at {tmp_path / 'typo'} (named by JIFEN_DATA_DIR" in done.stderr
    assert not (tmp_path / "typo").exists()


def test_the_option_and_the_environment_name_the_same_folder(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    minted = served_issuer(folder).mint(PrincipalKind.ADMIN, "ops")  # a key generated there
    expected_kid = jwt.get_unverified_header(minted)["kid"]
    env = jifen_env(mongo_url, db_name, tmp_path / "elsewhere")  # a folder that does not exist
    by_env = jifen_env(mongo_url, db_name, folder)
    (tmp_path / "cwd").mkdir()
    tokens = [
        _run(env, "--data-dir", str(folder), "token", "admin", "ops"),
        _run(env, "token", "admin", "ops", "--data-dir", str(folder)),
        _run(env, "--data-dir", "../data", "token", "admin", "ops", cwd=tmp_path / "cwd"),
        _run(by_env, "token", "admin", "ops"),
    ]
    for done in tokens:
        assert done.returncode == 0, done.stderr
        assert jwt.get_unverified_header(done.stdout.strip())["kid"] == expected_kid
    assert not (tmp_path / "elsewhere").exists()


def test_a_token_names_its_operator(mongo_url: str, db_name: str, tmp_path: Path) -> None:
    served_issuer(tmp_path)
    done = _run(jifen_env(mongo_url, db_name, tmp_path), "token", "admin")
    assert done.returncode == 2
    assert "subject" in done.stderr and not done.stdout


def test_a_member_token_for_nobody_is_refused(mongo_url: str, db_name: str, tmp_path: Path) -> None:
    served_issuer(tmp_path)
    done = _run(jifen_env(mongo_url, db_name, tmp_path), "token", "member", "JF404")
    assert done.returncode == 2
    assert "no member has the id, member number or phone JF404" in done.stderr
    assert not done.stdout


def _parsers(
    parser: argparse.ArgumentParser, path: str = "jifen"
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{path} {name}")
    return found


def test_every_command_and_option_says_what_it_is_for() -> None:
    silent = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                named = {choice.dest for choice in action._choices_actions if choice.help}
                silent += [f"{path} {name}" for name in action.choices if name not in named]
            elif not action.help:
                silent.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert silent == []


def test_help_lists_every_command_under_its_task(tmp_path: Path) -> None:
    done = _run(_unconfigured_env(tmp_path), "--help")
    assert done.returncode == 0
    headings = [line[:-1] for line in done.stdout.splitlines() if line.endswith(":")]
    assert headings[0] == "options" and set(headings[1:]) <= set(TASKS)
    assert OTHER not in headings
    for task in ("Run", "Members and points", "Program", "Reports", "Data"):
        assert task in headings
    tasks_part = done.stdout[done.stdout.index("\nRun:\n") :]
    names = [line for line in tasks_part.splitlines() if line.startswith("  ") and line[2] != " "]
    listed = [line.split()[0] for line in names]
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(listed) == sorted(commands.choices)


def test_serve_says_so_when_it_cannot_create_the_data_folder(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    env = {**_unconfigured_env(tmp_path), "JIFEN_DATA_DIR": str(tmp_path / "a-file" / "data")}
    done = _run(env, "serve", "--port", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot create the data folder {tmp_path / 'a-file' / 'data'}" in done.stderr
    assert "Traceback" not in done.stderr
