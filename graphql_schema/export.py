"""The served SDL, as committed in graphql_schema/schema.graphql."""

from __future__ import annotations

from pathlib import Path

from graphql_schema.schema import schema

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def export_sdl() -> str:
    return schema.as_str().rstrip("\n") + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(export_sdl(), encoding="utf-8")
