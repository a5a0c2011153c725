"""A text progress bar for long CLI commands (`jifen clear`, `jifen import`), on stderr."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30


def progress_bar(out: TextIO) -> Callable[[int, int, str], None]:
    """draw(done, total, what): redrawn at each whole percent and at the end."""
    last = [-1]

    def draw(done: int, total: int, what: str) -> None:
        percent = 100 * done // total if total else 100
        if percent == last[0] and done < total:
            return
        last[0] = percent
        filled = BAR_WIDTH * percent // 100
        out.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}% {done}/{total} {what}"
        )
        out.flush()

    return draw
