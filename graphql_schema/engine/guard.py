"""The one schema extension every request passes: the limits a document meets, and error masking.

Token cap while parsing, the parser cache, validation through the process's cached rules, a
document no cache knows parsed and validated off the event loop (safety.py), variables that hold
a NUL (graphql_schema/client_text.py), the member mutation limit (mutation_limit.py), and error
masking (this class extends errors.MaskInternalErrors: strawberry's MaskErrors, with a database
that did not answer shown as UNAVAILABLE). One extension rather than one per concern because
strawberry builds every extension and wraps each of its hooks in a fresh context manager for each
stage of each request; one extension pays that bookkeeping once (about 20 µs less per request
than four).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from graphql import ExecutionResult, GraphQLError, parse
from strawberry.types.graphql import OperationType

from graphql_schema.client_text import nul_in_variables
from graphql_schema.engine.mutation_limit import refuse_over_limit
from graphql_schema.engine.safety import (
    Rules,
    ambiguous_operation,
    documents,
    forget,
    on_documents_thread,
    parse_cached,
    validate_cached,
)
from graphql_schema.errors import InvalidInput, MaskInternalErrors, hook_error, should_mask

# What a request whose text does not parse carries through strawberry's steps in place of its
# document: a query, which every transport allows, never validated nor run.
UNPARSED = parse("{ __typename }")


class RequestGuard(MaskInternalErrors):
    def __init__(self, extra_rules: Rules, limited_fields: frozenset[str]) -> None:
        super().__init__(should_mask_error=should_mask, error_message="Internal server error.")
        self.extra_rules = extra_rules
        self.limited_fields = limited_fields
        self.parsed_now = False
        self.unparsed: GraphQLError | None = None

    def _process_result(self, result: object) -> None:
        # MaskErrors checks a runtime Protocol here, which costs more than the masking itself.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        assert context.query is not None
        document = documents.get(context.query, None)
        self.parsed_now = document is None
        if document is None:
            try:
                document = await on_documents_thread(partial(parse_cached, context.query))
            except GraphQLError as error:
                # Raised from this hook, the error escapes strawberry's parsing step: its HTTP
                # path still answers it, but over a WebSocket the operation ended with a bare
                # `complete` and a logged traceback. A stand-in document carries the request on
                # to validation, which answers the syntax error as any refused document.
                self.unparsed, document = error, UNPARSED
                # Nor may strawberry look the stand-in's operation up by the request's name.
                context._provided_operation_name = None
        context.graphql_document = document
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if self.unparsed is not None:
            context.pre_execution_errors = [self.unparsed]
            yield
            return
        document = context.graphql_document
        assert document is not None
        schema, rules = context.schema._schema, (*context.validation_rules, *self.extra_rules)
        validate = partial(validate_cached, schema, document, rules)
        # A document just parsed is not in the validation cache either.
        errors = await on_documents_thread(validate) if self.parsed_now else validate()
        if errors:
            forget(schema, document, rules)  # the lean path, if it came first, kept them for us
        name = context._provided_operation_name
        errors = errors or ambiguous_operation(document, name)
        if not errors:
            nul = nul_in_variables(schema, document, name, context.variables)
            errors = [InvalidInput(nul)] if nul is not None else []
        context.pre_execution_errors = errors
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.MUTATION:
            try:
                refusal = await refuse_over_limit(context, self.limited_fields)
            except Exception as exc:  # strawberry would show it to the client as it is
                refusal = ExecutionResult(data=None, errors=[hook_error(exc)])
            if refusal is not None:
                context.result = refusal  # strawberry then skips execution
        yield
