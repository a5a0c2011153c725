"""Operators register partners from the command line and mint their tokens from the registry."""

from __future__ import annotations

from pathlib import Path

import jwt

from app.db import Mongo
from tests.test_cli import jifen


async def test_a_partner_is_added_and_its_token_carries_the_registered_scopes(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    added = jifen(
        mongo_url,
        db_name,
        tmp_path,
        "partner",
        "add",
        "Airport shop",
        "--scope",
        "points:earn",
        "--scope",
        "points:redeem",
    )
    assert added.returncode == 0, added.stderr
    partner_id = added.stdout.splitlines()[0]
    assert f"token partner {partner_id}" in added.stdout
    stored = await mongo["partners"].find_one({"_id": partner_id})
    assert stored is not None and stored["scopes"] == ["points:earn", "points:redeem"]

    minted = jifen(mongo_url, db_name, tmp_path, "token", "partner", partner_id)
    assert minted.returncode == 0, minted.stderr
    claims = jwt.decode(minted.stdout.strip(), options={"verify_signature": False})
    assert (claims["sub"], claims["scope"]) == (partner_id, "points:earn points:redeem")

    wider = jifen(
        mongo_url, db_name, tmp_path, "token", "partner", partner_id, "--scope", "points:read"
    )
    assert wider.returncode == 2 and "granted only" in wider.stderr
    unknown = jifen(mongo_url, db_name, tmp_path, "token", "partner", "pt_" + "0" * 20)
    assert unknown.returncode == 2


async def test_a_partner_with_an_unknown_scope_is_refused(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    refused = jifen(mongo_url, db_name, tmp_path, "partner", "add", "Shop", "--scope", "admin")
    assert refused.returncode == 2 and "scopes" in refused.stderr
    assert await mongo["partners"].count_documents({}) == 0
