"""The ledger's collections (accounts, lots, ledger, holds) are read and written by app/ledger
only: other packages call its functions (app.ledger's public API), so how the books are stored
can change in one place. Kept by reading the source, since import-linter sees modules, not
collection names.

Allowed elsewhere, each for a reason:
- app/db.py declares every collection's indexes;
- app/backup copies every collection as it is;
- app/reports is the ledger's read model: its rollup and breakdowns aggregate entries by period;
- app/sandbox_clock.py, a foundation module that may import no domain package, reads the latest
  entry's instant so the development clock never goes back before it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ("accounts", "lots", "ledger", "holds")
NAMED = re.compile(r"""\[\s*["'](""" + "|".join(COLLECTIONS) + r""")["']\s*\]""")
ALLOWED = ("app/ledger/", "app/db.py", "app/backup/", "app/reports/", "app/sandbox_clock.py")


def test_only_the_ledger_names_its_collections() -> None:
    found = []
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("graphql_schema/**/*.py")]):
        where = path.relative_to(ROOT).as_posix()
        if where.startswith(ALLOWED):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if NAMED.search(line):
                found.append(f"{where}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)


def test_the_check_finds_a_collection_named_in_either_quote() -> None:
    assert NAMED.search('await mongo["lots"].aggregate(pipeline)')
    assert NAMED.search("mongo[ 'holds' ].find({})")
    assert not NAMED.search('mongo["notifications"].find({})')
