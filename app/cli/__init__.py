"""The `jifen` command: serve, mint tokens, seed the demo, export the schema, run ledger jobs by hand.

`main` builds the parser (app/cli/main.py) from each task's commands: backup and restore, the
sandbox clock, imports, points, the program, reports; `progress` draws their bars and `tasks`
groups `jifen --help` by task.
"""

from app.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
