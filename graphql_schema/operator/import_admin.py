"""Imports for operators (admin scope import:write), the same import as `jifen import`:

- `importMembers`: members.csv and balances.csv as text, imported within the request. Request
  bodies are capped at 64 KB and requests at their time budget, so this suits a few hundred members.
- `startImport`: the files uploaded as files (the GraphQL multipart request spec, up to 32 MB
  each), stored and queued; the worker imports them (app.importer.uploads) and `importJob` shows the
  progress, then the summary and the refused rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from app.auth import PrincipalKind, actor_of
from app.importer import (
    MAX_FILE_BYTES,
    ImportJob,
    ImportJobStatus,
    InvalidUpload,
    UploadedFile,
    check_upload,
    get_import_job,
    import_files,
    list_import_jobs,
    start_import,
)
from graphql_schema.client_text import FILE_TEXT
from graphql_schema.context import Info
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.permissions import admin_scope, require_kind
from graphql_schema.refusals import as_payload, as_query
from graphql_schema.relay import KEY, Connection, Cursor, connection, page_size
from graphql_schema.scalars import BigInt
from graphql_schema.user_errors import UserError

SCOPE = "import:write"


@strawberry.input
class ImportMembersInput:
    members_csv: str = strawberry.field(
        description="legacy_id,phone,name,email,birthday,tier,joined_at", metadata=FILE_TEXT
    )
    balances_csv: str = strawberry.field(
        description="legacy_id,points,earned_at,expires_at", metadata=FILE_TEXT
    )
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
    points_imported: BigInt
    error_count: int
    errors: list[ImportRowError] = strawberry.field(description="The first 500, by file and line.")

    @classmethod
    def of(
        cls, dry_run: bool, counts: Mapping[str, int], errors: Sequence[Mapping[str, Any]]
    ) -> ImportMembersPayload:
        """From an import's Summary.counts() and Summary.shown_errors(), as run or as stored."""
        return cls(
            dry_run=dry_run,
            members_imported=counts["members_imported"],
            members_unchanged=counts["members_unchanged"],
            members_changed=counts["members_changed"],
            balances_imported=counts["balances_imported"],
            balances_unchanged=counts["balances_unchanged"],
            balances_changed=counts["balances_changed"],
            points_imported=BigInt(counts["points_imported"]),
            error_count=counts["errors"],
            errors=[ImportRowError(**error) for error in errors],
        )


async def import_members_mutation(info: Info, input: ImportMembersInput) -> ImportMembersPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    runtime = info.context.runtime
    summary = await as_query(
        lambda: import_files(
            runtime.mongo,
            runtime.clock,
            input.members_csv,
            input.balances_csv,
            actor=actor,
            dry_run=input.dry_run,
        )
    )
    return ImportMembersPayload.of(input.dry_run, summary.counts(), summary.shown_errors())


import_members_field = strawberry.mutation(
    resolver=import_members_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: import members and opening balances from CSV text (import:write); "
    "valid rows are imported, refused ones listed by line; a rerun imports nothing twice.",
)


strawberry.enum(ImportJobStatus)


@strawberry.type(description="An uploaded file of an import job.")
class ImportFile:
    name: str
    bytes: int


@strawberry.type(
    name="ImportJob", description="An import of uploaded files, run by the worker (startImport)."
)
class ImportJobView:
    id: strawberry.ID
    status: ImportJobStatus
    dry_run: bool
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    members_file: ImportFile
    balances_file: ImportFile | None
    total: int | None = strawberry.field(description="Member rows to handle, once read.")
    done: int = strawberry.field(description="Member rows handled so far.")
    failure: str | None = strawberry.field(description="Why a FAILED job stopped.")
    result: ImportMembersPayload | None = strawberry.field(description="When DONE: the summary.")

    @classmethod
    def of(cls, job: ImportJob) -> ImportJobView:
        def file(name: str) -> ImportFile | None:
            stored = job.files.get(name)
            return (
                None if stored is None else ImportFile(name=stored["name"], bytes=stored["bytes"])
            )

        result = None
        if job.summary is not None:
            result = ImportMembersPayload.of(job.dry_run, job.summary, job.errors)
        members = file("members")
        assert members is not None
        return cls(
            id=strawberry.ID(to_global_id("ImportJob", job.id)),
            status=job.status,
            dry_run=job.dry_run,
            actor=job.actor,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            members_file=members,
            balances_file=file("balances"),
            total=job.total,
            done=job.done,
            failure=job.failure,
            result=result,
        )


@strawberry.input
class StartImportInput:
    members: Upload = strawberry.field(
        description="members.csv (legacy_id,phone,name,email,birthday,tier,joined_at), UTF-8."
    )
    idempotency_key: str = strawberry.field(description="A retry with it returns the first job.")
    balances: Upload | None = strawberry.field(
        default=None, description="balances.csv (legacy_id,points,earned_at,expires_at), UTF-8."
    )
    dry_run: bool = strawberry.field(default=False, description="Check every row, write nothing.")


@strawberry.type
class StartImportPayload:
    job: ImportJobView | None
    replayed: bool = strawberry.field(description="The job this key started before.")
    user_errors: list[UserError]


async def _file(value: object, field: str) -> UploadedFile:
    if not isinstance(value, UploadFile):
        raise InvalidUpload(field, "a file, sent as a multipart upload")
    if value.size is not None and value.size > MAX_FILE_BYTES:
        raise InvalidUpload(field, f"a file of at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return UploadedFile(name=value.filename or field, content=await value.read())


async def start_import_mutation(info: Info, input: StartImportInput) -> StartImportPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    runtime = info.context.runtime

    async def run() -> StartImportPayload:
        members = await _file(input.members, "members")
        balances = None if input.balances is None else await _file(input.balances, "balances")
        await asyncio.to_thread(check_upload, members, balances)  # decoding MBs: off the loop
        job, replayed = await start_import(
            runtime.mongo,
            runtime.clock,
            members=members,
            balances=balances,
            dry_run=input.dry_run,
            actor=actor,
            idempotency_key=input.idempotency_key,
        )
        return StartImportPayload(job=ImportJobView.of(job), replayed=replayed, user_errors=[])

    return await as_payload(
        run, lambda e: StartImportPayload(job=None, replayed=False, user_errors=e)
    )


async def resolve_import_job(info: Info, id: strawberry.ID) -> ImportJobView | None:
    _, job_id = from_global_id(id, "ImportJob")
    job = await get_import_job(info.context.runtime.mongo, job_id)
    return None if job is None else ImportJobView.of(job)


JOBS = Cursor("import-job", (KEY,))
ImportJobConnection = Connection[ImportJobView]


async def resolve_import_jobs(
    info: Info, first: int = 20, after: str | None = None
) -> ImportJobConnection:
    limit = page_size(first)
    before = JOBS.decode(after)[0] if after is not None else None
    jobs, more = await list_import_jobs(info.context.runtime.mongo, first=limit, before=before)
    return connection(
        jobs,
        has_next=more,
        after=after,
        cursor=lambda job: JOBS.encode(job.id),
        node=ImportJobView.of,
    )


start_import_field = strawberry.mutation(
    resolver=start_import_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: upload members.csv and balances.csv as files (a multipart request, "
    "32 MB each at most) to be imported by the worker; follow it with importJob (import:write).",
)
import_job_field = strawberry.field(
    resolver=resolve_import_job,
    extensions=admin_scope(SCOPE),
    description="Operators: an import job, its progress and its summary (import:write).",
)
import_jobs_field = strawberry.field(
    resolver=resolve_import_jobs,
    extensions=admin_scope(SCOPE),
    description="Operators: import jobs, newest first (import:write).",
)
