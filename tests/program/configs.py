"""Program configurations as an operator writes them (JSON or TOML mappings)."""

from __future__ import annotations

from typing import Any

from app.program import config_of
from app.seed import DEMO_PROGRAM


def demo_config(**changes: Any) -> dict[str, Any]:
    """The demo program's configuration as updateProgram takes it, with top-level changes."""
    return {**config_of(DEMO_PROGRAM), **changes}
