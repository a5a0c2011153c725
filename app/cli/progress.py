"""Progress bars for long CLI commands (`jifen clear`, `jifen import`, `jifen backup`, `jifen restore`),
drawn by rich on stderr: animated on a terminal, one final line when stderr is a file or a pipe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

Draw = Callable[[int, int, str], None]


@contextmanager
def progress_bar(out: TextIO) -> Iterator[Draw]:
    """draw(done, total, what) inside the block; the bar is left as it last stood when it ends."""
    progress = Progress(
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
        console=Console(file=out),
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task: list[TaskID] = []

    def draw(done: int, total: int, what: str) -> None:
        if not task:
            task.append(progress.add_task(what, total=total))
        progress.update(task[0], completed=done, total=total, description=what)

    with progress:
        yield draw
