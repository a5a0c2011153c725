"""Builds the Schema: root types, validation rules and error masking, assembled once per process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext

from graphql_schema.errors import log_unexpected, should_mask
from graphql_schema.members import Member, me_field, member_field
from graphql_schema.program import Program, resolve_program


@strawberry.type
class Query:
    program: Program = strawberry.field(
        resolver=resolve_program,
        description="Public facts about the program: tiers and how points are earned.",
    )
    me: Member = me_field
    member: Member | None = member_field


class JifenSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    extensions: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Internal server error."),
    ]
    if not introspection:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    schema_kwargs: dict[str, Any] = {"query": Query, "extensions": extensions}
    return JifenSchema(**schema_kwargs)


schema = build_schema()
