"""`auditLog`: operators read who changed what (admin scope audit:read). Read only: the schema has
no way to write, edit or delete an entry; entries are written by the operations they record."""

from __future__ import annotations

import json
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.audit import AuditEntry, AuditFilter, list_audit
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.permissions import admin_scope
from graphql_schema.relay import INSTANT, KEY, Connection, Cursor, connection, page_size

ENTRIES = Cursor("audit", (INSTANT, KEY))
MAX_TEXT = 200


def _plain(document: dict[str, object] | None) -> JSON | None:
    """A stored document as JSON: instants and decimals as their ISO or decimal text."""
    return None if document is None else JSON(json.loads(json.dumps(document, default=str)))


@strawberry.type(description="One operator write: who, when, in which request, before and after.")
class AuditLogEntry:
    id: strawberry.ID
    at: datetime
    actor: str = strawberry.field(description='"admin:<id>" or "cli:<os user>".')
    action: str = strawberry.field(description='What was done, e.g. "points.adjust".')
    target: str = strawberry.field(description='What it changed, e.g. "member:m_1".')
    request_id: str | None = strawberry.field(description="The X-Request-ID of the API request.")
    before: JSON | None
    after: JSON | None
    note: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditLogEntry:
        return cls(
            id=strawberry.ID(entry.id),
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            request_id=entry.request_id,
            before=_plain(entry.before),
            after=_plain(entry.after),
            note=entry.note,
        )


@strawberry.input(
    description="At most one of actor, action and target; `from` and `to` bound `at`."
)
class AuditLogFilter:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    from_: datetime | None = strawberry.field(default=None, name="from", description="Included.")
    to: datetime | None = strawberry.field(default=None, description="Excluded.")

    def to_filter(self) -> AuditFilter:
        for name, text in (("actor", self.actor), ("action", self.action), ("target", self.target)):
            if text is not None and not 0 < len(text) <= MAX_TEXT:
                raise InvalidInput(f"{name}: 1 to {MAX_TEXT} characters", field=name)
        for name, instant in (("from", self.from_), ("to", self.to)):
            if instant is not None and instant.tzinfo is None:
                raise InvalidInput(f"{name}: an instant with its UTC offset", field=name)
        try:
            found = AuditFilter(self.actor, self.action, self.target, self.from_, self.to)
            found.query()
        except ValueError as exc:
            raise InvalidInput(str(exc), field="filter") from None
        return found


AuditLogConnection = Connection[AuditLogEntry]


async def audit_log(
    info: Info, first: int = 20, after: str | None = None, filter: AuditLogFilter | None = None
) -> AuditLogConnection:
    position = ENTRIES.decode(after) if after is not None else None
    audit_filter = filter.to_filter() if filter is not None else AuditFilter()
    limit = page_size(first)
    entries, more = await list_audit(
        info.context.runtime.mongo, audit_filter, first=limit, after=position
    )
    return connection(
        entries,
        has_next=more,
        after=after,
        cursor=lambda entry: ENTRIES.encode(entry.at, entry.id),
        node=AuditLogEntry.of,
    )


audit_log_field = strawberry.field(
    resolver=audit_log,
    extensions=admin_scope("audit:read"),
    description="Operators: the audit log, newest first (admin scope audit:read).",
)
