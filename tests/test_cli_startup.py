"""`jifen` imports only what the command it runs uses (issue 21: the suite spawns it ~150 times).

Building the parser takes the light modules only (app.config, app.clock, app/cli itself); each
command imports its packages when it runs. Checked in a fresh interpreter: this process has
imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.auth import PrincipalKind
from app.cli.choices import PARTNER_SCOPES, PRINCIPAL_KINDS, REPORT_PERIODS
from app.clock import SystemClock
from app.db import Mongo
from app.partners import PARTNER_SCOPES as GRANTED_SCOPES
from app.reports import Period
from app.seed import seed_demo
from tests.processes import jifen_env

# The domain packages (the layers below app.cli) and the heavy libraries only some commands use.
DOMAIN = [
    "app.main",
    "graphql_schema",
    "app.worker",
    "app.privacy",
    "app.reports",
    "app.auth",
    "app.partners",
    "app.rewards",
    "app.draws",
    "app.engagement",
    "app.importer",
    "app.corrections",
    "app.backup",
    "app.members",
    "app.program",
    "app.notifications",
    "app.audit",
    "app.ledger",
    "app.db",
    "app.sandbox_clock",
]
LIBRARIES = [
    "pymongo",
    "argon2",
    "strawberry",
    "graphql",
    "httpx",
    "uvicorn",
    "rich",
    "tomli_w",
    "jwt",
]

# Runs `jifen ARGS...` (or only builds the parser, given no ARGS), then writes the modules it
# imported, as JSON, to the file named first.
PROBE = """
import json, sys
from app.cli import build_parser, main
status = main(sys.argv[2:]) if sys.argv[2:] else (build_parser(), 0)[1]
with open(sys.argv[1], "w") as out:
    json.dump(sorted(sys.modules), out)
sys.exit(status)
"""


def imported(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    modules = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(modules), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, set(json.loads(modules.read_text(encoding="utf-8")))


def loaded(modules: set[str], names: list[str]) -> list[str]:
    """The names in `names` that `modules` has, as a package or as any module under it."""
    return [name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules)]


def test_building_the_parser_imports_no_domain_package(tmp_path: Path) -> None:
    done, modules = imported(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "app.cli" in modules and "app.config" in modules
    assert loaded(modules, DOMAIN + LIBRARIES) == []


async def test_program_show_imports_the_program_not_the_password_hasher(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    await seed_demo(mongo, SystemClock())
    env = jifen_env(mongo_url, db_name, tmp_path)
    done, modules = imported(tmp_path, "program", "show", env=env)
    assert done.returncode == 0, done.stderr
    assert 'name = "' in done.stdout
    assert loaded(modules, ["app.program", "tomli_w"]) == ["app.program", "tomli_w"]
    assert loaded(modules, ["app.auth", "argon2", "app.worker", "app.reports"]) == []
    assert loaded(modules, ["strawberry", "graphql", "httpx", "rich", "uvicorn"]) == []


# What opening the database imports: app.members.upgrade_database brings every start's upgrades
# (the ledger's shape, the tiers' markers), and the members package the program and notices.
OPENING = ["app.members", "app.program", "app.notifications", "app.audit", "app.ledger", "app.db"]


async def test_ledger_verify_imports_the_ledger_and_the_upgrades_only(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    env = jifen_env(mongo_url, db_name, tmp_path)
    done, modules = imported(tmp_path, "ledger", "verify", env=env)
    assert done.returncode == 0, done.stderr
    assert "no drift" in done.stdout
    assert loaded(modules, DOMAIN) == OPENING
    assert loaded(modules, LIBRARIES) == ["pymongo"]


def test_the_parsers_choices_are_the_domains_values() -> None:
    """app/cli/choices.py writes them out so the parser need not import their packages."""
    assert tuple(kind.value for kind in PrincipalKind) == PRINCIPAL_KINDS
    assert PARTNER_SCOPES == GRANTED_SCOPES
    assert tuple(period.value for period in Period) == REPORT_PERIODS
