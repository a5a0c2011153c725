"""`jifen --help` lists the commands by task, not in the order they were added to the parser."""

from __future__ import annotations

import argparse
import textwrap

# Each command under one task. A name not (or not yet) registered is skipped; a registered
# command missing here is listed under "Other" (tests/test_cli_help.py keeps that group empty).
TASKS: dict[str, tuple[str, ...]] = {
    "Run": ("serve", "worker", "clock"),
    "Members and points": ("token", "adjust", "clear", "import", "partner"),
    "Program": ("program", "seed-demo"),
    "Scheduled jobs, by hand": (
        "expire",
        "warn",
        "mature",
        "release-holds",
        "tiers",
        "referrals",
        "release-unpaid",
    ),
    "Reports": ("report", "outbox", "webhooks", "messages"),
    "Data": ("ledger", "backup", "restore", "export-schema"),
}
OTHER = "Other"
NAME_WIDTH = 16
WIDTH = 88


def commands_by_task(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> dict[str, list[str]]:
    registered = list(commands.choices)
    grouped = {
        task: [name for name in names if name in registered] for task, names in TASKS.items()
    }
    listed = {name for names in grouped.values() for name in names}
    grouped[OTHER] = [name for name in registered if name not in listed]
    return {task: names for task, names in grouped.items() if names}


def group_by_task(
    parser: argparse.ArgumentParser, commands: argparse._SubParsersAction[argparse.ArgumentParser]
) -> None:
    """Replace argparse's one flat list of commands with a list per task, after the options."""
    helps = {action.dest: action.help or "" for action in commands._choices_actions}
    lines: list[str] = []
    for task, names in commands_by_task(commands).items():
        lines.append(f"{task}:")
        for name in names:
            text = textwrap.wrap(helps.get(name, ""), WIDTH - NAME_WIDTH - 2) or [""]
            lines.append(f"  {name:<{NAME_WIDTH}}{text[0]}".rstrip())
            lines.extend(" " * (NAME_WIDTH + 2) + more for more in text[1:])
        lines.append("")
    lines.append(f"`{parser.prog} COMMAND --help` tells more of each.")
    parser.epilog = "\n".join(lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.usage = f"{parser.prog} [-h] [--data-dir DIR] COMMAND ..."
    commands.help = argparse.SUPPRESS  # the flat list; usage and the epilog name the commands
