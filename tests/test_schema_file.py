"""The committed SDL is the served schema: regenerate with `jifen export-schema` when this fails."""

from __future__ import annotations

from graphql_schema.export import SCHEMA_FILE, export_sdl


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == export_sdl(), (
        "graphql_schema/schema.graphql is stale: run `jifen export-schema`"
    )
