"""Operators configure the program: `updateProgram` (scope program:write), `programVersion` and
`programVersions` (scope program:read), for admin tokens only.

The configuration travels as JSON in the shape `jifen program show --format json` prints; it is
validated whole by app.program.validation and every error comes back as a userError whose
`field` is the path into the input (`["input", "config", "earn", "rules", "2", "multiplier"]`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension
from strawberry.scalars import JSON

from app.auth import PrincipalKind
from app.program import (
    Applied,
    Change,
    Program,
    ProgramNotConfigured,
    ProgramVersionNotFound,
    VersionStamp,
    apply_program,
    check_change,
    config_of,
    get_program,
    list_versions,
    parse_program,
    preview_program,
)
from graphql_schema.context import Info
from graphql_schema.permissions import IsAdmin, require_kind
from graphql_schema.refusals import as_payload
from graphql_schema.relay import NUMBER, Connection, Cursor, connection, page_size
from graphql_schema.user_errors import UserError

VERSIONS = Cursor("program-version", (NUMBER,))


def _admin(scope: str) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsAdmin(scope)], use_directives=False)]


@strawberry.type(description="One field a program version changes: its path, old and new value.")
class ProgramChange:
    path: str = strawberry.field(description="The field's path, e.g. earn.rules[2].multiplier.")
    before: str | None = strawberry.field(description="The old value as JSON; null if absent.")
    after: str | None = strawberry.field(description="The new value as JSON; null if removed.")

    @classmethod
    def of(cls, change: Change) -> ProgramChange:
        return cls(path=change.path, before=_json(change.before), after=_json(change.after))


async def _config(root: ProgramVersion, info: Info) -> JSON:
    program = root.preloaded or await get_program(info.context.runtime.mongo, root.version)
    return JSON(config_of(program))


@strawberry.type(description="One version of the program configuration: who made it, when, why.")
class ProgramVersion:
    version: int
    updated_at: datetime | None
    updated_by: str | None = strawberry.field(
        description='Who made it: "cli:<user>", "admin:<id>".'
    )
    note: str | None
    preloaded: strawberry.Private[Program | None] = None

    config: JSON = strawberry.field(
        resolver=_config,
        description="The whole configuration, as updateProgram takes it.",
    )

    @classmethod
    def of(cls, stamp: VersionStamp, program: Program | None = None) -> ProgramVersion:
        return cls(
            version=stamp.version,
            updated_at=stamp.updated_at,
            updated_by=stamp.updated_by,
            note=stamp.note,
            preloaded=program,
        )


ProgramVersionConnection = Connection[ProgramVersion]


@strawberry.input
class UpdateProgramInput:
    config: JSON = strawberry.field(description="The whole program configuration (JSON object).")
    dry_run: bool = strawberry.field(default=False, description="Validate and diff; apply nothing.")
    note: str | None = strawberry.field(default=None, description="Why; kept with the version.")
    idempotency_key: str = strawberry.field(
        description="One per intended change; a replay returns the first result."
    )


@strawberry.type
class UpdateProgramPayload:
    version: ProgramVersion | None = strawberry.field(
        description="The version in force after the change (a dry run: the one it would make)."
    )
    changed: bool = strawberry.field(description="False: identical to the current version.")
    changes: list[ProgramChange]
    user_errors: list[UserError]


def _failed(errors: list[UserError]) -> UpdateProgramPayload:
    return UpdateProgramPayload(version=None, changed=False, changes=[], user_errors=errors)


async def update_program_mutation(info: Info, input: UpdateProgramInput) -> UpdateProgramPayload:
    principal = require_kind(info, PrincipalKind.ADMIN, "program:write")
    mongo, clock = info.context.runtime.mongo, info.context.runtime.clock

    async def run() -> UpdateProgramPayload:
        check_change(input.idempotency_key, input.note)
        program = parse_program(input.config)
        if input.dry_run:
            return _payload(await preview_program(mongo, program), program)
        applied = await apply_program(
            mongo,
            clock,
            program,
            updated_by=f"admin:{principal.subject}",
            note=input.note,
            idempotency_key=input.idempotency_key,
        )
        # The version's config is the one submitted: new, identical to the current one, or
        # replayed under the same key (the same request): no read needed to show it.
        return _payload(applied, program)

    return await as_payload(run, _failed)


def _payload(applied: Applied, program: Program) -> UpdateProgramPayload:
    return UpdateProgramPayload(
        version=ProgramVersion.of(applied.stamp, program),
        changed=applied.changed,
        changes=[ProgramChange.of(change) for change in applied.changes],
        user_errors=[],
    )


async def resolve_program_version(info: Info, version: int | None = None) -> ProgramVersion | None:
    try:
        program = await get_program(info.context.runtime.mongo, version)
    except (ProgramNotConfigured, ProgramVersionNotFound):
        return None
    stamp = VersionStamp(program.version, program.updated_at, program.updated_by, program.note)
    return ProgramVersion.of(stamp, program)


async def resolve_program_versions(
    info: Info, first: int = 20, after: str | None = None
) -> ProgramVersionConnection:
    limit = page_size(first)
    before = VERSIONS.decode(after)[0] if after is not None else None
    stamps, more = await list_versions(info.context.runtime.mongo, first=limit, before=before)
    return connection(
        stamps,
        has_next=more,
        after=after,
        cursor=lambda stamp: VERSIONS.encode(stamp.version),
        node=ProgramVersion.of,
    )


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


update_program_field = strawberry.mutation(
    resolver=update_program_mutation,
    extensions=_admin("program:write"),
    description="Operators: apply a new program version (admin scope program:write). Every "
    "validation error is a VALIDATION userError whose field is the path in the input.",
)
program_version_field = strawberry.field(
    resolver=resolve_program_version,
    extensions=_admin("program:read"),
    description="Operators: the program as configured, the current version or `version` "
    "(admin scope program:read); null if there is no such version.",
)
program_versions_field = strawberry.field(
    resolver=resolve_program_versions,
    extensions=_admin("program:read"),
    description="Operators: the program's versions, newest first (admin scope program:read).",
)
