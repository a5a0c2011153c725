"""`python -m app.healthcheck`: the worker container's health check (docker-compose.yml).

Exits 0 when the worker's loop ticked within --max-age seconds (its heartbeat file in the data
folder, app/heartbeat.py), 1 otherwise, saying why on one line. A stopped, hung or
disconnected worker stops ticking: its passes no longer reach the database.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.config import ConfigurationError, Settings, load_settings
from app.heartbeat import heartbeat_age, heartbeat_file

MIN_MAX_AGE_SECONDS = 30.0


def default_max_age(settings: Settings) -> float:
    """Three of the idle jobs' intervals: every job passes at least once per interval."""
    return max(3 * settings.worker_interval_seconds, MIN_MAX_AGE_SECONDS)


def check_worker(settings: Settings, max_age: float | None = None) -> tuple[bool, str]:
    limit = default_max_age(settings) if max_age is None else max_age
    path = heartbeat_file(settings.data_dir)
    age = heartbeat_age(path)
    if age is None:
        return False, f"unhealthy: no worker heartbeat at {path}"
    if age > limit:
        return False, f"unhealthy: the worker last ticked {age:.1f} s ago (more than {limit:g} s)"
    return True, f"healthy: the worker ticked {age:.1f} s ago"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.healthcheck",
        description="Exit 0 when `jifen worker` on this data folder ticked recently, else 1.",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        metavar="SECONDS",
        help="the oldest heartbeat that passes (default: three JIFEN_WORKER_INTERVAL_SECONDS, "
        f"at least {MIN_MAX_AGE_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"unhealthy: {exc}")
        return 1
    healthy, message = check_worker(settings, args.max_age)
    print(message)
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
