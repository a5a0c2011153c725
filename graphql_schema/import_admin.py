"""`importMembers`: an operator uploads members.csv and balances.csv as text (admin scope
import:write). Request bodies are capped at 64 KB, so this suits a few hundred members; larger
files go through `jifen import` on the server, which runs the same import (app/importer)."""

from __future__ import annotations

import strawberry

from app.audit import actor_of
from app.auth.principals import PrincipalKind
from app.importer import ImportRunning, import_files
from app.program.service import ProgramNotConfigured
from graphql_schema.context import Info
from graphql_schema.errors import ClientError, NotConfigured
from graphql_schema.permissions import admin_scope, require_kind

SCOPE = "import:write"


class ImportBusy(ClientError):
    """Another import (this mutation or `jifen import`) is running: try again after it."""

    code = "IMPORT_RUNNING"


SHOWN_ERRORS = 500


@strawberry.input
class ImportMembersInput:
    members_csv: str = strawberry.field(
        description="legacy_id,phone,name,email,birthday,tier,joined_at"
    )
    balances_csv: str = strawberry.field(description="legacy_id,points,earned_at,expires_at")
    dry_run: bool = strawberry.field(default=False, description="Check every row, write nothing.")


@strawberry.type(description="A refused row: which file, which line (the header is line 1), why.")
class ImportRowError:
    file: str
    line: int
    field: str
    message: str


@strawberry.type(description="What an import did; a rerun imports nothing twice.")
class ImportMembersPayload:
    dry_run: bool
    members_imported: int
    members_unchanged: int
    members_changed: int = strawberry.field(description="Imported before with other values: kept.")
    balances_imported: int
    balances_unchanged: int
    balances_changed: int
    points_imported: int
    error_count: int
    errors: list[ImportRowError] = strawberry.field(description="The first 500, by file and line.")


async def import_members_mutation(info: Info, input: ImportMembersInput) -> ImportMembersPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    runtime = info.context.runtime
    try:
        summary = await import_files(runtime.mongo, runtime.clock, input.members_csv,
                                     input.balances_csv, actor=actor, dry_run=input.dry_run)  # fmt: skip
    except ProgramNotConfigured:
        raise NotConfigured("the program has not been configured yet") from None
    except ImportRunning as exc:
        raise ImportBusy(str(exc)) from None
    counts = summary.counts()
    return ImportMembersPayload(
        dry_run=input.dry_run, members_imported=counts["members_imported"],
        members_unchanged=counts["members_unchanged"], members_changed=counts["members_changed"],
        balances_imported=counts["balances_imported"],
        balances_unchanged=counts["balances_unchanged"],
        balances_changed=counts["balances_changed"], points_imported=counts["points_imported"],
        error_count=len(summary.errors),
        errors=[ImportRowError(file=e.file, line=e.line, field=e.field, message=e.message)
                for e in summary.errors[:SHOWN_ERRORS]],
    )  # fmt: skip


import_members_field = strawberry.mutation(
    resolver=import_members_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: import members and opening balances from CSV text (import:write); "
    "valid rows are imported, refused ones listed by line; a rerun imports nothing twice.",
)
