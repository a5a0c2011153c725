"""Environment for product processes (jifen, uvicorn, the worker) that a test starts on its database."""

from __future__ import annotations

import os
from pathlib import Path


def jifen_env(mongo_url: str, db_name: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """This machine's environment without stray JIFEN_* values, pointed at the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env.update(
        JIFEN_MONGODB_URL=mongo_url,
        JIFEN_DB_NAME=db_name,
        JIFEN_DATA_DIR=str(data_dir),
        JIFEN_ENV="test",
        **{f"JIFEN_{name.upper()}": value for name, value in settings.items()},
    )
    return env
