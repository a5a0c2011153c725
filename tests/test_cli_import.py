"""`jifen import` run as a real command: a progress bar and every refused row on stderr, the
summary on stdout, exit status 1 when rows were refused; a rerun imports nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

from app.clock import SystemClock
from app.db import Mongo
from app.program import save_program
from app.seed import DEMO_PROGRAM
from tests.importer.test_import import BALANCES, MEMBERS
from tests.test_cli_points import jifen


async def test_the_cli_imports_with_a_progress_bar_and_reports_rows_by_line(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    await save_program(mongo, SystemClock(), DEMO_PROGRAM)
    members, balances = tmp_path / "members.csv", tmp_path / "balances.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    balances.write_text(BALANCES.replace("2030-01-01", "2099-01-01"), encoding="utf-8")
    dry = jifen(mongo_url, db_name, tmp_path, "import", str(members), str(balances), "--dry-run")
    assert dry.returncode == 1 and json.loads(dry.stdout)["dry_run"] is True
    assert await mongo["members"].count_documents({}) == 0  # it only says what would be imported

    done = jifen(mongo_url, db_name, tmp_path, "import", str(members), str(balances))
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) | {"errors": 9} == json.loads(done.stdout)
    assert json.loads(done.stdout)["members_imported"] == 3
    assert json.loads(dry.stdout) | {"dry_run": False} == json.loads(done.stdout)
    assert "100% 3/3 members" in done.stderr
    assert "members.csv line 4: phone:" in done.stderr
    assert "balances.csv line 9: legacy_id:" in done.stderr
    again = jifen(mongo_url, db_name, tmp_path, "import", str(members), str(balances))
    assert json.loads(again.stdout)["members_imported"] == 0
    assert json.loads(again.stdout)["members_unchanged"] == 3
    audit = await mongo["audit"].find({"action": "import.run"}).to_list(None)
    assert len(audit) == 2 and all(a["actor"].startswith("cli:") for a in audit)
    missing = jifen(
        mongo_url, db_name, tmp_path, "import", str(tmp_path / "nope.csv"), str(balances)
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
