"""The member mutation limit, as a schema extension: one database command per mutation document.

It runs after validation and only for mutations, so queries and refused documents cost no
rate-limit write. Each root field of a member mutation (`MemberMutation` guards it) counts once,
aliases included, so a document cannot multiply its allowance; the whole document is refused
with RATE_LIMITED when its fields do not fit, before any of them runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

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
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.auth.principals import PrincipalKind
from app.auth.throttle import count_mutations
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


class MutationLimit(SchemaExtension):
    """Counts a member's mutation fields against JIFEN_MUTATION_LIMIT_PER_MINUTE."""

    def __init__(self, limited_fields: frozenset[str]) -> None:
        self.limited_fields = limited_fields

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        principal = context.principal if isinstance(context, Context) else None
        if (
            execution.operation_type is OperationType.MUTATION
            and principal is not None
            and principal.kind is PrincipalKind.MEMBER
            and principal.member_id is not None
        ):
            cost = self._cost()
            if cost:
                runtime = context.runtime
                per_minute = runtime.settings.mutation_limit_per_minute
                locked = await count_mutations(
                    runtime.mongo, runtime.clock, principal.member_id, cost, per_minute
                )
                if locked is not None:
                    retry_after = locked.retry_after_seconds(runtime.clock.now())
                    error = RateLimited(
                        f"too many changes; try again in {retry_after} s",
                        retryAfterSeconds=retry_after,
                    )
                    execution.result = ExecutionResult(data=None, errors=[error])
        yield

    def _cost(self) -> int:
        """The document's member mutation fields, one per response key (as execution merges them)."""
        execution = self.execution_context
        document = execution.graphql_document
        assert document is not None
        operation = _operation(document, execution.operation_name)
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
            if field.name.value in self.limited_fields
        }
        return len(keys)
