"""Text a client sends is Unicode text: no lone surrogate anywhere, no NUL but in a file's text.

JSON may escape half of a surrogate pair on its own ("\\ud800"), which is no Unicode character:
Python's json decodes it into a str that no UTF-8 encoder accepts (BSON, argon2, the log, the
response), and 12 of 13 write paths, signUp, logIn and refreshSession among them, answered an
internal error with a traceback. A NUL is a character, but no name, id or sentence holds one and C
libraries, terminals and CSV readers end text at it. Both are refused before the document runs,
as BAD_USER_INPUT: a surrogate anywhere in what the request decoded to (`request_problem`: the
query's text, variables, operationName and extensions, over HTTP and WebSocket alike, where the
schema is asked to run it) and a NUL in the operation's name; a NUL in a variable
(`nul_in_variables`, in the request guard) or in a string literal (`PlainText`, a validation
rule). Text that carries a file keeps its NULs: an input field declared with
`metadata=FILE_TEXT` (importMembers' CSV), whose rows the importer judges one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    SKIP,
    DocumentNode,
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    ObjectFieldNode,
    StringValueNode,
    ValidationRule,
    get_operation_ast,
    type_from_ast,
)
from graphql.language.visitor import VisitorAction
from strawberry.schema.schema_converter import GraphQLCoreConverter

FILE_TEXT = {"file_text": True}  # strawberry.field(metadata=FILE_TEXT): text that may hold NUL
_SURROGATE = re.compile("[\ud800-\udfff]")

LONE_SURROGATE = "Text must be valid Unicode: a lone surrogate (\\ud800-\\udfff) was sent."
NUL = "Text must not contain the NUL character (\\u0000)."


def request_problem(
    query: object, variables: object, operation_name: object, extensions: object
) -> str | None:
    """Why a request (as decoded, before its document is parsed) is not plain Unicode text: a
    lone surrogate anywhere, or a NUL in the operation's name, or None. A NUL elsewhere depends on
    where it stands: nul_in_variables and PlainText judge it once the document is known."""
    if isinstance(operation_name, str) and "\x00" in operation_name:
        return NUL
    return unicode_problem([query, variables, operation_name, extensions])


def unicode_problem(value: object) -> str | None:
    """Why `value` (decoded JSON: its keys too) is not all valid Unicode text, or None."""
    if any(not text.isascii() and _SURROGATE.search(text) for text in _strings(value)):
        return LONE_SURROGATE
    return None


def _strings(value: object) -> Iterator[str]:
    """Every string in decoded JSON, its keys too; not recursive, as JSON may nest as deep as the
    decoder allowed."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def nul_in_variables(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> str | None:
    """Why a variable of the operation to run is refused, naming the first place that holds a NUL
    outside a file's text (`$input.name`), or None. Walks each value along its declared type (the
    document is valid)."""
    operation = get_operation_ast(document, operation_name)
    if not variables or operation is None:
        return None
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_ = type_from_ast(schema, definition.type)
        if name in variables and type_ is not None:
            found = _nul_at(type_, variables[name], f"${name}")  # type: ignore[arg-type]
            if found is not None:
                return f"{NUL[:-1]}: {found}."
    return None


def _nul_at(type_: GraphQLInputType, value: object, path: str) -> str | None:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList) and isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(type_.of_type, item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(type_, GraphQLInputObjectType) and isinstance(value, dict):
        for key, item in value.items():
            field = type_.fields.get(key)
            if field is not None and not _file_text(field):
                found = _nul_at(field.type, item, f"{path}.{key}")
                if found is not None:
                    return found
        return None
    holds_nul = any("\x00" in text for text in _strings(value))  # a scalar's, as it is
    return path if holds_nul else None


def _file_text(field: GraphQLInputField) -> bool:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return bool(getattr(definition, "metadata", None) == FILE_TEXT)


class PlainText(ValidationRule):
    """String literals hold no NUL (`"\\u0000"`), but in a file's text."""

    def enter_object_field(self, node: ObjectFieldNode, *_: object) -> VisitorAction:
        parent = self.context.get_parent_input_type()
        while isinstance(parent, GraphQLNonNull | GraphQLList):
            parent = parent.of_type
        if isinstance(parent, GraphQLInputObjectType):
            field = parent.fields.get(node.name.value)
            if field is not None and _file_text(field):
                return SKIP
        return None

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError(NUL, node))
