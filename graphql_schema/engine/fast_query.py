"""A lean path for the common HTTP request: a POSTed JSON query that parses and validates cleanly.

Strawberry's view and `Schema.execute` cost about as much CPU per request as the rest of the
request together (a request adapter, a sub-response, an execution context, the extension runner
with a context manager per hook and stage): `me { balance }` cost twice the CPU of a hand-written
endpoint doing the same token check and read (bench/api.py). This path runs such a request with
the same pieces the full path uses (the parse and validation caches, the request guard's rules,
the view's context, strawberry's resolvers, error classification and masking) and skips the
rest; a document runs by its compiled plan (plans.py), or through graphql-core's `execute` with
strawberry's execution context class where it has none.

A query's time budget is a hard stop at the budget (watchdog.py), not the full path's
pymongo operation timeout: that one puts a timer on every database read and write (and on
Python 3.11 a task per send), about 0.09 ms of CPU per request, and a query only reads, so
cancelling it at the budget loses nothing (pymongo closes a connection cancelled mid-reply).
Work inside that runs its own transaction (the ledger) still sets its own budget (store.py).

It answers only when the outcome is certain to match the full path: anything else (a body that is
not a JSON object of the usual shape, a syntax or validation error, a missing or ambiguous
operation, a mutation or subscription) returns None and the view runs the full path, which reads
the same cached body and gives the usual answer (400s, 413, the mutation limit, ...).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from enum import Enum
from functools import partial
from typing import Any, TypeGuard, cast

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    specified_rules,
)
from starlette.requests import Request
from starlette.responses import Response
from strawberry.execution import optimized_is_awaitable
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import Schema

from graphql_schema.engine.caches import SizedCache
from graphql_schema.engine.plans import Plan, Run, coerce_variables, compile_plan
from graphql_schema.engine.safety import (
    CACHED_CHARS,
    MAX_BODY_BYTES,
    Rules,
    on_documents_thread,
    parse_cached,
    validate_cached,
)
from graphql_schema.engine.watchdog import Watchdog
from graphql_schema.errors import (
    UNAVAILABLE_MESSAGE,
    MaskInternalErrors,
    Unavailable,
    classify,
    should_mask,
)
from graphql_schema.schema import JifenSchema

# Strawberry's cheaper test for awaitables, as its own execution passes it.
_is_awaitable = cast("Callable[[Any], TypeGuard[Awaitable[Any]]]", optimized_is_awaitable)
# json.dumps with any argument builds a new JSONEncoder per call.
_json_encode = json.JSONEncoder(separators=(",", ":")).encode


def encode_json(payload: object) -> bytes:
    """A response body, as both paths write it: orjson (UTF-8, compact), about ten times cheaper
    than json; json for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return _json_encode(payload).encode()


_MASK = MaskInternalErrors(should_mask_error=should_mask, error_message="Internal server error.")
Planned = tuple[DocumentNode, Plan | None, str | None]


class _Unknown(Enum):
    PLAN = "not in the plan cache"


Prepared = tuple[
    DocumentNode, Plan | None, dict[str, Any] | None, str | None, dict[str, Any] | None
]


class FastQuery:
    """Answers clean HTTP queries for one schema; `answer` returns None to leave one to strawberry."""

    def __init__(self, schema: Schema) -> None:
        assert isinstance(schema, JifenSchema)
        self.graphql_schema = schema._schema
        # Equal to the full path's tuple (strawberry's rules, then the guard's), so both paths
        # share the validation cache's entries.
        self.rules: Rules = (*specified_rules, *schema.request_rules)
        self.executor_class = schema.execution_context_class
        self.info_class = schema.config.info_class
        # Exception handlers live in strawberry's resolver wrappers: with any, plans keep them.
        self.direct_calls = not schema.schema_converter._exception_handler_specs
        # Keyed by the text (whose hash Python keeps), not by the document: hashing a document
        # walks its whole tree.
        self.plans: SizedCache[tuple[str, str | None], Planned | None] = SizedCache(CACHED_CHARS)
        self.answered = 0  # requests this path answered (the tests check which path ran)
        self.planned = 0  # of which run by a plan
        self.watchdog = Watchdog()

    async def answer(
        self, request: Request, context_of: Callable[[], Awaitable[object]]
    ) -> Response | None:
        headers = request.headers
        content_type = headers.get("content-type", "")
        if content_type != "application/json":  # the usual header needs no parsing
            content_type, _ = parse_content_type(content_type)
        declared = headers.get("content-length", "")
        if "application/json" not in content_type or not declared.isdigit():
            return None
        if int(declared) > MAX_BODY_BYTES:
            return None
        body = await request.body()  # cached on the request: the full path reads it again
        if len(body) > MAX_BODY_BYTES or b"\\u0000" in body:  # NUL: the guard judges where
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:  # not UTF-8 JSON, or beyond orjson (NaN, huge integers,
            return None  # nesting): the full path parses it with json and answers as it does
        prepared = await self._prepare(data)
        if prepared is None:
            return None
        document, plan, variables, operation_name, extensions = prepared
        context = await context_of()
        self.answered += 1
        budget = request.app.state.runtime.settings.request_timeout_seconds
        task = self.watchdog.start(budget)  # a query is cut off when its budget is spent
        try:
            payload = await self._execute(
                document, plan, context, variables, operation_name, extensions
            )
        except asyncio.CancelledError:
            if not self.watchdog.finish(task):
                raise
            payload = {"data": None, "errors": [Unavailable(UNAVAILABLE_MESSAGE).formatted]}
        else:
            self.watchdog.finish(task)
        return Response(encode_json(payload), media_type="application/json")

    async def _prepare(self, data: object) -> Prepared | None:
        """The validated document of a single query and its inputs, or None for anything else."""
        if not isinstance(data, dict):
            return None
        query, variables = data.get("query"), data.get("variables")
        name, extensions = data.get("operationName"), data.get("extensions")
        if not isinstance(query, str) or not query:
            return None
        if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
            return None
        if not isinstance(name, str | None):
            return None
        planned = self.plans.get((query, name), _Unknown.PLAN)
        if planned is _Unknown.PLAN:
            planned = await on_documents_thread(partial(self._plan, query, name))
        if planned is None:
            return None
        document, plan, name = planned
        return document, plan, variables, name, extensions

    def _plan(self, query: str, name: str | None) -> Planned | None:
        """The validated document, its plan (plans.py) if it has one, and the name strawberry
        gives its operation, if it is a query; kept in the plan cache."""
        planned = self._plan_uncached(query, name)
        self.plans.put((query, name), planned, len(query))
        return planned

    def _plan_uncached(self, query: str, name: str | None) -> Planned | None:
        try:
            document = parse_cached(query)
        except Exception:  # noqa: BLE001 - the full path reports it
            return None
        operation = _only_query(document, name)
        if operation is None or validate_cached(self.graphql_schema, document, self.rules):
            return None
        # Strawberry names the operation the client named, else the first one (if named).
        if name is None and operation.name is not None:
            name = operation.name.value
        plan = compile_plan(
            self.graphql_schema, document, operation, direct_calls=self.direct_calls
        )
        return document, plan, name

    async def _execute(
        self,
        document: DocumentNode,
        plan: Plan | None,
        context: object,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
    ) -> dict[str, object]:
        coerced = None if plan is None else coerce_variables(self.graphql_schema, plan, variables)
        try:
            if plan is not None and coerced is not None:
                self.planned += 1
                run = Run(
                    self.graphql_schema,
                    plan,
                    context,
                    coerced,
                    _is_awaitable,
                    self.info_class,
                    extensions,
                )
                data, errors = await run.execute()
                result = ExecutionResult(data, errors or None)
            else:
                result = await self._execute_generally(
                    document, context, variables, operation_name, extensions
                )
        except Exception as exc:  # noqa: BLE001 - as strawberry's execute: an error, masked
            result = ExecutionResult(None, [GraphQLError(str(exc), original_error=exc)])
        if not result.errors:
            return {"data": result.data}
        classify(result.errors)
        errors = _MASK._process_errors(result.errors)
        return {"data": result.data, "errors": [error.formatted for error in errors]}

    async def _execute_generally(
        self,
        document: DocumentNode,
        context: object,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """graphql-core's executor, for documents without a plan (and invalid variables)."""
        result = execute(
            self.graphql_schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=self.executor_class,
            is_awaitable=_is_awaitable,
            hide_suggestions=True,
            operation_extensions=extensions,
        )
        if not isinstance(result, ExecutionResult):
            result = await result
        return result


def _only_query(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation strawberry would run, if it is a query and the choice is unambiguous."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        chosen = operations[0] if len(operations) == 1 else None
    else:
        chosen = next((o for o in operations if o.name and o.name.value == name), None)
    if chosen is None or chosen.operation is not OperationType.QUERY:
        return None
    return chosen
