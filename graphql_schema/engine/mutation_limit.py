"""The member mutation limit: one database command per mutation document.

The request guard (guard.py) calls it after validation and only for mutations, so queries and
refused documents cost no rate-limit write. Each root field of a member mutation
(`MemberMutation` guards it) counts once, aliases included, so a document cannot multiply its
allowance; the whole document is refused with RATE_LIMITED when its fields do not fit, before
any of them runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.types import ExecutionContext

from app.auth import PrincipalKind, count_mutations
from graphql_schema.context import Context
from graphql_schema.errors import RateLimited


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, SelectionSetNode], seen: set[str]
) -> Iterator[FieldNode]:
    """The root fields of an operation through its fragments, each fragment expanded once."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            if selection.name.value in fragments:
                yield from _root_fields(fragments[selection.name.value], fragments, seen)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def mutation_cost(
    document: DocumentNode, operation_name: str | None, limited_fields: frozenset[str]
) -> int:
    """The operation's member mutation fields, one per response key (as execution merges them)."""
    operation = _operation(document, operation_name)
    if operation is None:
        return 0
    fragments = {
        definition.name.value: definition.selection_set
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    keys = {
        (field.alias or field.name).value
        for field in _root_fields(operation.selection_set, fragments, set())
        if field.name.value in limited_fields
    }
    return len(keys)


async def refuse_over_limit(
    execution: ExecutionContext, limited_fields: frozenset[str]
) -> ExecutionResult | None:
    """RATE_LIMITED for a member's mutation over JIFEN_MUTATION_LIMIT_PER_MINUTE; else None.

    Call it only for mutations, after validation: it writes the member's counter.
    """
    context = execution.context
    principal = context.principal if isinstance(context, Context) else None
    if principal is None or principal.kind is not PrincipalKind.MEMBER:
        return None  # the fields' permission classes refuse these callers
    assert execution.graphql_document is not None and principal.member_id is not None
    cost = mutation_cost(execution.graphql_document, execution.operation_name, limited_fields)
    if not cost:
        return None
    runtime = context.runtime
    per_minute = runtime.settings.mutation_limit_per_minute
    locked = await count_mutations(
        runtime.mongo, runtime.clock, principal.member_id, cost, per_minute
    )
    if locked is None:
        return None
    retry_after = locked.retry_after_seconds(runtime.clock.now())
    error = RateLimited(
        f"too many changes; try again in {retry_after} s", retryAfterSeconds=retry_after
    )
    return ExecutionResult(data=None, errors=[error])
