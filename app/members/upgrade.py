"""What every start does to a database it is about to use, in one place: the API, each jifen
command that opens the database, a restore and the benches call `upgrade_database`, so a database
is of the same shape (and carries the same `meta` markers) whichever of them opened it last.

Each step is marked in `meta` once done: on an upgraded database the whole costs three reads.
"""

from __future__ import annotations

from datetime import datetime

from app.db import Mongo
from app.ledger import upgrade_books
from app.members.tiers import move_tier_progress, upgrade_tier_since


async def upgrade_database(mongo: Mongo, now: datetime) -> None:
    """Accounts to the ledger's newest shape, tier changes with their instant, tier progress onto
    the accounts (an archive or a data folder written by an older version)."""
    await upgrade_books(mongo, now)
    await upgrade_tier_since(mongo)
    await move_tier_progress(mongo)
