"""The data folder: the embedded database, its log, generated keys, and where `serve` listens.

One place per user, whatever the current directory (the platform's user data folder, from
platformdirs), unless JIFEN_DATA_DIR or `--data-dir` names another. Only `serve` creates it: any
other command that finds none refuses (DataFolderMissing) instead of starting an empty database
with new keys next to wherever it happened to be run.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app.embedded import alive

APP_NAME = "jifen"
SERVING_FILE = "serving.json"  # written by `serve`: its pid and port, for `token --link`


def default_data_dir() -> Path:
    """~/.local/share/jifen on Linux, ~/Library/Application Support/jifen on macOS, %LOCALAPPDATA%\\jifen on Windows."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class DataFolderMissing(Exception):
    """A command other than `serve` would need the data folder, and there is none where it looked."""

    def __init__(self, path: Path, *, explicit: bool) -> None:
        self.path = path
        chosen = (
            "named by JIFEN_DATA_DIR or --data-dir"
            if explicit
            else "the default place; JIFEN_DATA_DIR and --data-dir are unset"
        )
        super().__init__(
            f"no Jifen data folder at {path} ({chosen}). Only `jifen serve` creates one: start "
            "it once, or point JIFEN_DATA_DIR (or `jifen --data-dir DIR`) at the folder that "
            "`serve` printed at start."
        )


def require_data_folder(path: Path, *, explicit: bool) -> None:
    if not path.is_dir():
        raise DataFolderMissing(path, explicit=explicit)


class DataFolderUnusable(Exception):
    """`serve` cannot create the data folder (permissions, a file in the way, a read-only disk)."""

    def __init__(self, path: Path, reason: OSError) -> None:
        self.path = path
        super().__init__(
            f"cannot create the data folder {path}: {reason.strerror or reason}. Set "
            "JIFEN_DATA_DIR (or `jifen --data-dir DIR`) to a folder this user can write."
        )


def create_data_folder(path: Path) -> None:
    """`serve`'s right alone; the folder holds keys, so only its owner may enter it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFolderUnusable(path, exc) from None


@dataclass(frozen=True)
class Serving:
    pid: int
    port: int


def record_serving(path: Path, port: int) -> None:
    """Where this `serve` listens; a stale record (its process gone) is ignored by `serving`."""
    with contextlib.suppress(OSError):  # a read-only data folder: `token --link` falls back
        (path / SERVING_FILE).write_text(json.dumps({"pid": os.getpid(), "port": port}))


def forget_serving(path: Path) -> None:
    with contextlib.suppress(OSError):
        (path / SERVING_FILE).unlink()


def serving(path: Path) -> Serving | None:
    """The `serve` running on this data folder, if one is."""
    try:
        record = json.loads((path / SERVING_FILE).read_text())
        found = Serving(int(record["pid"]), int(record["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if alive(found.pid) else None
