"""The worker's heartbeat: a file whose time says when the worker's loop last ticked.

A container's health check cannot ask the worker anything (it serves no port), and a live process
is not a working one: a loop stuck on a database that never answers is alive. So every pass of a
job that reached the database rewrites a file in the data folder (at most once per BEAT_SECONDS),
and `python -m app.healthcheck` fails when that file is older than its threshold.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0  # passes come back to back while work waits: one write a second is plenty


def heartbeat_file(data_dir: Path) -> Path:
    return data_dir / "worker.heartbeat"


@dataclass
class Heartbeat:
    path: Path
    owner: str = ""
    every: float = BEAT_SECONDS
    _last: float = field(default=float("-inf"), init=False)
    _failed: bool = field(default=False, init=False)

    def beat(self) -> None:
        """The loop ticked: rewrite the file (its modification time is the beat). Written aside and
        renamed into place, so a health check never reads half a file."""
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        aside = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            aside.write_text(f"{self.owner} {datetime.now(UTC).isoformat()}\n")
            os.replace(aside, self.path)
        except OSError as exc:
            if not self._failed:  # once: a read-only or missing folder fails every beat alike
                log.warning("cannot write the worker heartbeat %s: %s", self.path, exc)
            self._failed = True
        else:
            self._failed = False


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the last beat written to `path`; None when there is none."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None
