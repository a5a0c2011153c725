"""A document's shape once its fragments are expanded: depth, aliases, fields, in linear time;
then how often one place selects the same response key.

A fragment may spread another fragment twice, and that one the next twice: 30 such fragments fit
in 1.2 KB and expand to 2^30 fields. Walking the expanded tree (as strawberry's depth and alias
limiters do) is exponential work on the event loop before anything is refused. Here each fragment
is measured once and its measure reused wherever it is spread, so the cost is linear in the
document's size whatever it expands to, and a document whose expansion is bigger than what its
token limit would allow written out is refused before graphql-core's own rules walk it.

graphql-core's OverlappingFieldsCanBeMerged compares every pair of selections that answer under
one response key at one place, and again each pair below them: `program { name }` written 495
times (8 KB) kept the event loop for 0.5 to 1.3 s, and three copies of a five-level path at each
level (243 selections of its leaf) for 0.3 s. Counting the selections of each response path once
fragments and inline fragments are merged (repeated_keys, linear in the expanded document, which
`oversized` has already bounded) bounds those comparisons before the rule runs.
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


class _Place:
    """One response path, its fragments merged: how many selections answer at it, and the places
    below."""

    __slots__ = ("below", "count")

    def __init__(self) -> None:
        self.count = 0
        self.below: dict[str, _Place] = {}


class _Repeated(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _RepeatedKeys:
    """Walks a definition's selections with its fragments expanded, counting each response path,
    and stops at the first path selected too often or once `max_steps` selections are walked."""

    def __init__(self, document: DocumentNode, *, max_repeats: int, max_steps: int) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.max_repeats = max_repeats
        self.steps_left = max_steps
        self.open: set[str] = set()
        self.spread: set[str] = set()  # fragments reached from an operation

    def walk(self, selection_set: SelectionSetNode | None, place: _Place, path: str) -> None:
        for selection in selection_set.selections if selection_set else ():
            self.steps_left -= 1
            if self.steps_left < 0:
                raise _Repeated(
                    "The document has too many selections once its fragments are expanded."
                )
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                inner = place.below.setdefault(key, _Place())
                inner.count += 1
                if inner.count > self.max_repeats:
                    raise _Repeated(
                        f"'{path}{key}' is selected more than {self.max_repeats} times in one"
                        " place once fragments are expanded."
                    )
                self.walk(selection.selection_set, inner, f"{path}{key}.")
            elif isinstance(selection, InlineFragmentNode):
                self.walk(selection.selection_set, place, path)
            elif isinstance(selection, FragmentSpreadNode):
                self.fragment(selection.name.value, place, path)

    def fragment(self, name: str, place: _Place, path: str) -> None:
        definition = self.fragments.get(name)
        if definition is None or name in self.open:  # graphql-core's own rules refuse these
            return
        self.spread.add(name)
        self.open.add(name)
        self.walk(definition.selection_set, place, path)
        self.open.discard(name)


def repeated_keys(
    document: DocumentNode, *, max_repeats: int, max_steps: int
) -> list[GraphQLError]:
    """An error if some place selects one response key more than `max_repeats` times, counting
    through fragments: `{ program { name } program { name } }` selects `program` and
    `program.name` twice each.

    graphql-core compares the selections of every selection set in the document, a fragment's
    too, so a fragment no operation spreads is walked on its own (one that is spread selects at
    most what it selects where it is spread). `max_steps` bounds the walk, whatever the fragments
    expand to.
    """
    walk = _RepeatedKeys(document, max_repeats=max_repeats, max_steps=max_steps)
    try:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                walk.walk(definition.selection_set, _Place(), "")
        for name, fragment in walk.fragments.items():
            if name not in walk.spread:
                walk.open = {name}
                walk.walk(fragment.selection_set, _Place(), "")
    except _Repeated as refused:
        return [GraphQLError(refused.message)]
    return []
