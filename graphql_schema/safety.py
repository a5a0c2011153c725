"""Limits every document meets before it runs: tokens, depth, aliases, fields; validation without
suggestions.

The request guard (guard.py) applies them. Tokens are capped while parsing, and the same text
parses to the same document (parse_cached), so the validation cache below hits too. Depth, aliases and the number of fields after expanding fragments
are measured in one linear pass (shape.py) before graphql-core's rules run, so a document that
expands exponentially is refused without being walked (strawberry's depth and alias limiters
walked every spread: 30 fragments each spreading the next twice never finished).

The validation rules are classes made once per process: strawberry makes a new rule class per
extension instance, and extensions are built per request, so the validation cache (keyed by the
rule tuple) would miss on every request (strawberry issue #4635). Here the rule tuple is the same
object for the process's lifetime, the parser cache hands back the same document for the same
text, and one LRU keyed by (schema, document, rules) answers repeated validations. Our own cache
rather than strawberry's ValidationCache because we also validate with `hide_suggestions=True`:
"Did you mean ...?" would list field names to anyone probing the schema with introspection off.
"""

from __future__ import annotations

from functools import lru_cache

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

from graphql_schema.shape import long_numbers, oversized

MAX_DEPTH = 12
MAX_ALIASES = 20
MAX_TOKENS = 2_000
# After expanding fragments: no more fields than the document could hold written out.
MAX_FIELDS = MAX_TOKENS
MAX_NUMBER_CHARS = 40
MAX_BODY_BYTES = 64 * 1024  # the view refuses bigger bodies before reading them as JSON
VALIDATION_CACHE_SIZE = 512
PARSE_CACHE_SIZE = 512

_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)

Rules = tuple[type[ASTValidationRule], ...]

# The same text parses to the same document object, so the validation cache below hits too.
parse_cached = lru_cache(maxsize=PARSE_CACHE_SIZE)(parse)


@lru_cache(maxsize=VALIDATION_CACHE_SIZE)
def validate_cached(
    schema: GraphQLSchema, document: DocumentNode, rules: Rules
) -> list[GraphQLError]:
    refused = oversized(
        document, max_depth=MAX_DEPTH, max_aliases=MAX_ALIASES, max_fields=MAX_FIELDS
    ) or long_numbers(document, max_chars=MAX_NUMBER_CHARS)
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
