"""A document's shape once its fragments are expanded: depth, aliases, fields, in linear time.

A fragment may spread another fragment twice, and that one the next twice: 30 such fragments fit
in 1.2 KB and expand to 2^30 fields. Walking the expanded tree (as strawberry's depth and alias
limiters do) is exponential work on the event loop before anything is refused. Here each fragment
is measured once and its measure reused wherever it is spread, so the cost is linear in the
document's size whatever it expands to, and a document whose expansion is bigger than what its
token limit would allow written out is refused before graphql-core's own rules walk it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    visit,
)
from graphql.language import FloatValueNode, IntValueNode


@dataclass(frozen=True)
class Shape:
    depth: int  # nesting of fields with selections, introspection fields not counted
    aliases: int
    fields: int  # field selections after expanding every fragment spread

    def beside(self, other: Shape) -> Shape:
        return Shape(
            max(self.depth, other.depth), self.aliases + other.aliases, self.fields + other.fields
        )


EMPTY = Shape(0, 0, 0)


class _Measure:
    """Measures selection sets, each fragment once (a cyclic spread counts as empty: the
    NoFragmentCycles rule refuses that document anyway)."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Shape] = {}
        self.open: set[str] = set()

    def selections(self, selection_set: SelectionSetNode | None) -> Shape:
        shape = EMPTY
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                shape = shape.beside(self.field(selection))
            elif isinstance(selection, InlineFragmentNode):
                shape = shape.beside(self.selections(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                shape = shape.beside(self.fragment(selection.name.value))
        return shape

    def field(self, node: FieldNode) -> Shape:
        inner = self.selections(node.selection_set)
        nested = node.selection_set is not None and not node.name.value.startswith("__")
        return Shape(
            inner.depth + 1 if nested else 0,
            inner.aliases + (1 if node.alias else 0),
            inner.fields + 1,
        )

    def fragment(self, name: str) -> Shape:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open:
            return EMPTY
        self.open.add(name)
        shape = self.selections(definition.selection_set)
        self.open.discard(name)
        self.measured[name] = shape
        return shape


def oversized(
    document: DocumentNode, *, max_depth: int, max_aliases: int, max_fields: int
) -> list[GraphQLError]:
    """Errors for every operation deeper, or any document with more aliases or fields, than allowed."""
    measure = _Measure(document)
    errors: list[GraphQLError] = []
    aliases = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        name = definition.name.value if definition.name else "anonymous"
        shape = measure.selections(definition.selection_set)
        aliases += shape.aliases
        if shape.depth > max_depth:
            errors.append(GraphQLError(f"'{name}' exceeds maximum operation depth of {max_depth}"))
        if shape.fields > max_fields:
            errors.append(
                GraphQLError(
                    f"'{name}' selects more than {max_fields} fields once its fragments are"
                    " expanded."
                )
            )
    if aliases > max_aliases:
        errors.append(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}"))
    return errors


class _LongNumbers(Visitor):
    def __init__(self, max_chars: int) -> None:
        super().__init__()
        self.max_chars = max_chars
        self.found: list[GraphQLError] = []

    def enter_int_value(self, node: IntValueNode, *_: object) -> None:
        self.check(node)

    def enter_float_value(self, node: FloatValueNode, *_: object) -> None:
        self.check(node)

    def check(self, node: IntValueNode | FloatValueNode) -> None:
        if len(node.value) > self.max_chars:
            message = f"A number literal may have at most {self.max_chars} characters."
            self.found.append(GraphQLError(message, node))


def long_numbers(document: DocumentNode, *, max_chars: int) -> list[GraphQLError]:
    """Errors for number literals longer than any real argument: int() of 5,000 digits raises."""
    numbers = _LongNumbers(max_chars)
    visit(document, numbers)
    return numbers.found
