"""Limits every document meets before it runs: tokens, depth, aliases, fields, repeated keys;
validation without suggestions.

The request guard (guard.py) applies them. Tokens are capped while parsing, and the same text
parses to the same document (parse_cached), so the validation cache below hits too. Depth,
aliases and the number of fields after expanding fragments are measured in one linear pass
(shape.py) before graphql-core's rules run, so a document that expands exponentially is refused
without being walked (strawberry's depth and alias limiters walked every spread: 30 fragments
each spreading the next twice never finished); then how often one place selects one response key,
which graphql-core compares pairwise.

The validation rules are classes made once per process: strawberry makes a new rule class per
extension instance, and extensions are built per request, so the validation cache (keyed by the
rule tuple) would miss on every request (strawberry issue #4635). Here the rule tuple is the same
object for the process's lifetime, the parser cache hands back the same document for the same
text, and one cache keyed by (schema, text, rules) answers repeated validations. Our own cache
rather than strawberry's ValidationCache because we also validate with `hide_suggestions=True`:
"Did you mean ...?" would list field names to anyone probing the schema with introspection off.
Both caches are bounded by the size of the documents they hold (caches.py), and a refused document
leaves them once answered (forget).

Parsing and validating a document no cache knows is the one piece of a request's work that grows
with what the client sends: 10 to 100 ms at the token limit. Both paths (the guard and the lean
query path) do it off the event loop (on_documents_thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from graphql import (
    BREAK,
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    ValidationRule,
    get_named_type,
    is_introspection_type,
    parse,
    validate,
)
from graphql.language.visitor import VisitorAction
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from graphql_schema.engine.caches import SizedCache
from graphql_schema.engine.shape import long_numbers, oversized, repeated_keys

MAX_DEPTH = 12
MAX_ALIASES = 20
MAX_TOKENS = 2_000
# After expanding fragments: no more fields than the document could hold written out.
MAX_FIELDS = MAX_TOKENS
# Selections of one response key at one place, fragments merged: graphql-core compares each pair.
MAX_REPEATS = 10
# Selections walked to count them (repeated_keys): a few times what a document may expand to.
MAX_WALK = 4 * MAX_FIELDS
MAX_NUMBER_CHARS = 40
MAX_BODY_BYTES = 64 * 1024  # the view refuses bigger bodies before reading them as JSON
# Characters of document text each cache holds: 16 documents at the token limit, hundreds of
# the usual size.
CACHED_CHARS = 128 * 1024

_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)

Rules = tuple[type[ASTValidationRule], ...]

T = TypeVar("T")
# Documents no cache knows are parsed and validated here, one at a time.
_DOCUMENTS_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")


async def on_documents_thread(work: Callable[[], T]) -> T:
    """`work()` (parsing or validating a document no cache knows) on the documents thread.

    At the token limit that is 10 to 100 ms of CPU, and requests that arrive together would run
    it one after the other in one turn of the event loop: eight such documents held /healthz for
    0.4 s even once each was cheap to refuse. On a thread of its own the interpreter hands the
    event loop its turn every few milliseconds (the switch interval) whatever a document costs,
    and documents wait for each other rather than everyone else waiting for them.
    """
    return await asyncio.get_running_loop().run_in_executor(_DOCUMENTS_THREAD, work)


# The same text parses to the same document object. Validations are keyed by the text too, whose
# hash Python keeps: a document's hash walks its whole tree.
documents: SizedCache[str, DocumentNode] = SizedCache(CACHED_CHARS)
validations: SizedCache[tuple[GraphQLSchema, str, Rules], list[GraphQLError]] = SizedCache(
    CACHED_CHARS
)


def parse_cached(query: str) -> DocumentNode:
    """The document of `query`, its tokens capped at MAX_TOKENS."""
    document = documents.get(query, None)
    if document is None:
        document = parse(query, max_tokens=MAX_TOKENS)
        documents.put(query, document, len(query))
    return document


def validate_cached(
    schema: GraphQLSchema, document: DocumentNode, rules: Rules
) -> list[GraphQLError]:
    """The errors of a document parse_cached returned (its text is the key)."""
    assert document.loc is not None
    key = (schema, document.loc.source.body, rules)
    errors = validations.get(key, None)
    if errors is None:
        errors = _validate(schema, document, rules)
        validations.put(key, errors, len(key[1]))
    return errors


def forget(schema: GraphQLSchema, document: DocumentNode, rules: Rules) -> None:
    """Drop a refused document and its errors from the caches, once answered: only whoever probes
    with it asks again, and it would take the place of documents that run."""
    assert document.loc is not None
    documents.discard(document.loc.source.body)
    validations.discard((schema, document.loc.source.body, rules))


def _validate(schema: GraphQLSchema, document: DocumentNode, rules: Rules) -> list[GraphQLError]:
    refused = oversized(
        document, max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_fields=MAX_FIELDS
    ) or repeated_keys(document, max_repeats=MAX_REPEATS, max_steps=MAX_WALK)
    refused = refused or long_numbers(document, max_chars=MAX_NUMBER_CHARS)
    if refused:
        return refused
    errors = validate(schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=True)
    # Every validation error is about the client's document, even one that carries the exception
    # a scalar raised on a bad literal: drop that, so the error is shown rather than masked.
    return [error if error.original_error is None else _without_cause(error) for error in errors]


def _without_cause(error: GraphQLError) -> GraphQLError:
    return GraphQLError(error.message, error.nodes, extensions=error.extensions)


def ambiguous_operation(document: DocumentNode, operation_name: str | None) -> list[GraphQLError]:
    """Several operations and no operationName: refuse rather than run the first one.

    Strawberry's `operation_name` falls back to the first operation's name, hiding that none was
    given: this needs the name the client sent.
    """
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None and len(operations) > 1:
        return [GraphQLError("Must provide operation name if query contains multiple operations.")]
    return []


class NoIntrospection(ValidationRule):
    """Introspection is off (production): one error for the document, not one per field."""

    def enter_field(self, node: FieldNode, *_: object) -> VisitorAction:
        type_ = self.context.get_type()
        if type_ is not None and is_introspection_type(get_named_type(type_)):
            self.report_error(GraphQLError("GraphQL introspection is disabled.", node))
            return BREAK
        return None
