"""Limits every document meets before it runs: tokens, depth, aliases; validation without suggestions.

The request guard (guard.py) applies them.

The validation rules are classes made once per process. Strawberry's QueryDepthLimiter and
MaxAliasesLimiter make a new rule class per extension instance, and extensions are built per
request, so the validation cache (keyed by the rule tuple) would miss on every request
(strawberry issue #4635). Here the rule tuple is the same object for the process's lifetime, the
parser cache hands back the same document for the same text, and one LRU keyed by
(schema, document, rules) answers repeated validations. Our own cache rather than strawberry's
ValidationCache because we also validate with `hide_suggestions=True`: "Did you mean ...?" would
list field names to anyone probing the schema with introspection off.
"""

from __future__ import annotations

from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from strawberry.extensions.max_aliases import create_validator as create_alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as create_depth_validator
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

MAX_DEPTH = 12
MAX_ALIASES = 20
MAX_TOKENS = 2_000
MAX_BODY_BYTES = 64 * 1024  # the view refuses bigger bodies before reading them as JSON
VALIDATION_CACHE_SIZE = 512
PARSE_CACHE_SIZE = 512

DEPTH_RULE: type[ASTValidationRule] = create_depth_validator(MAX_DEPTH, None)
ALIAS_RULE: type[ASTValidationRule] = create_alias_validator(MAX_ALIASES)
_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)

Rules = tuple[type[ASTValidationRule], ...]


# The same text parses to the same document object, so the validation cache below hits too.
parse_cached = lru_cache(maxsize=PARSE_CACHE_SIZE)(parse)


@lru_cache(maxsize=VALIDATION_CACHE_SIZE)
def validate_cached(
    schema: GraphQLSchema, document: DocumentNode, rules: Rules
) -> list[GraphQLError]:
    return validate(schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=True)
