"""Compiled execution plans: a cached query document executed without graphql-core's general executor.

graphql-core's executor does, per request, what a cached document only needs once: it collects
each selection set's fields, looks up their definitions and return types, builds an execution
context with incremental-delivery bookkeeping and a resolve info per field. For `me { balance }`
that was about half of the request's CPU beyond the database read. A plan does that work once per
document (fast_query.py caches it with the parsed, validated document), then runs the same
resolvers (strawberry's wrappers, so permissions and argument conversion are unchanged) and
completes values by the same rules and with the same error messages, paths and locations:

- a resolver's exception becomes a located error on its field, null there; under a non-null
  type the null goes up to the nearest nullable parent (the root: data is null);
- scalars and enums through `coerce_output_value`; lists item by item; `is_type_of` checked;
- sibling fields (and list items) that return awaitables run concurrently, as graphql-core's do,
  so data loaders batch the same way; every one is settled before an error moves on.

`compile_plan` returns None for what a plan does not cover, and the caller then uses graphql-core:
directives, abstract types (interfaces, unions), fragments on another type, a response key
selected twice, introspection fields, fragment variables. tests/api/test_fast_query.py runs
documents through both and compares the answers, errors included.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    located_error,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path, inspect
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.schema.schema import _OperationContextAwareGraphQLResolveInfo as ResolveInfo
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

IsAwaitable = Callable[[Any], TypeGuard[Awaitable[Any]]]


@dataclass(frozen=True, slots=True)
class Leaf:
    type: GraphQLLeafType


@dataclass(frozen=True, slots=True)
class NonNull:
    inner: Completion


@dataclass(frozen=True, slots=True)
class ListOf:
    inner: Completion
    item_type: GraphQLOutputType  # the items' type, for an item's error


@dataclass(frozen=True, slots=True)
class Object:
    type: GraphQLObjectType
    fields: tuple[FieldPlan, ...]


Completion = Leaf | NonNull | ListOf | Object


@dataclass(frozen=True, slots=True)
class Direct:
    """A resolver strawberry would only call through its wrappers (no arguments, no extensions)."""

    call: Callable[..., Any]
    field: StrawberryField
    pass_self: bool  # the resolver's `self` is the source
    source_names: tuple[str, ...]  # its `root` / `parent` parameters
    info_name: str | None  # its `info` parameter

    @classmethod
    def of(cls, definition: GraphQLField) -> Direct | None:
        field = (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(field, StrawberryField) or field.extensions or field.arguments:
            return None
        resolver = field.base_resolver
        if resolver is None or not callable(resolver.wrapped_func):
            return None
        sources = (resolver.parent_parameter, resolver.root_parameter)
        info = resolver.info_parameter
        return cls(
            call=resolver.wrapped_func,
            field=field,
            pass_self=resolver.self_parameter is not None,
            source_names=tuple(p.name for p in sources if p is not None),
            info_name=None if info is None else info.name,
        )


@dataclass(frozen=True, slots=True)
class FieldPlan:
    key: str  # the response key: the alias, else the field's name
    name: str
    parent: GraphQLObjectType
    definition: GraphQLField
    nodes: list[FieldNode]
    resolve: Callable[..., Any] | None  # None: __typename
    basic: bool  # strawberry's attribute read: it needs no info and takes no arguments
    has_arguments: bool
    completion: Completion | None
    direct: Direct | None = None
    # A basic field of a scalar or enum type (most fields): read, null-checked, coerced.
    leaf: GraphQLLeafType | None = None
    non_null: bool = False
    read: Callable[[Any], Any] | None = None  # a basic field's attribute read, as strawberry's


@dataclass(frozen=True, slots=True)
class Plan:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    root: Object


def compile_plan(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    *,
    direct_calls: bool,
) -> Plan | None:
    """The plan of a validated query operation, or None where graphql-core must run it.

    `direct_calls`: call argument-free resolvers without strawberry's wrappers (only where the
    schema has no exception handlers, which those wrappers would apply).
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if operation.directives or any(f.variable_definitions for f in fragments.values()):
        return None
    root_type = schema.query_type
    if root_type is None:
        return None
    root = _Compiler(schema, fragments, direct_calls).object(root_type, operation.selection_set)
    return None if root is None else Plan(operation, fragments, root)


@dataclass(frozen=True, slots=True)
class _Compiler:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    direct_calls: bool

    def object(self, parent: GraphQLObjectType, selection_set: SelectionSetNode) -> Object | None:
        nodes: dict[str, FieldNode] = {}
        if not self.collect(parent, selection_set, nodes):
            return None
        plans = []
        for key, node in nodes.items():
            plan = self.field(parent, key, node)
            if plan is None:
                return None
            plans.append(plan)
        return Object(parent, tuple(plans))

    def collect(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode, into: dict[str, FieldNode]
    ) -> bool:
        """The fields by response key; False for anything a plan leaves out."""
        for selection in selection_set.selections:
            if selection.directives:
                return False
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                if key in into:  # merging two selections of one key: graphql-core's job
                    return False
                into[key] = selection
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None or fragment.type_condition.name.value != parent.name:
                    return False
                inner = fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != parent.name:
                    return False
                inner = selection.selection_set
            else:
                return False
            if not self.collect(parent, inner, into):
                return False
        return True

    def field(self, parent: GraphQLObjectType, key: str, node: FieldNode) -> FieldPlan | None:
        name = node.name.value
        if name == "__typename":
            definition = self.schema.get_field(parent, name)
            assert definition is not None
            return FieldPlan(key, name, parent, definition, [node], None, False, False, None)
        definition = parent.fields.get(name)
        if definition is None or name.startswith("__"):
            return None
        completion = self.completion(definition.type, node)
        if completion is None:
            return None
        resolve = definition.resolve
        basic = resolve is not None and getattr(resolve, "_is_default", False)
        has_arguments = bool(definition.args or node.arguments)
        direct = None
        if resolve is not None and not basic and self.direct_calls:
            direct = Direct.of(definition)
        basic = basic and not has_arguments
        non_null = isinstance(completion, NonNull)
        shape = completion.inner if isinstance(completion, NonNull) else completion
        leaf = shape.type if basic and isinstance(shape, Leaf) else None
        read = _attribute_read(definition) if basic else None
        return FieldPlan(
            key,
            name,
            parent,
            definition,
            [node],
            resolve,
            basic,
            has_arguments,
            completion,
            direct,
            leaf,
            non_null,
            read,
        )

    def completion(self, type_: GraphQLOutputType, node: FieldNode) -> Completion | None:
        if isinstance(type_, GraphQLNonNull):
            inner = self.completion(type_.of_type, node)
            return None if inner is None else NonNull(inner)
        if isinstance(type_, GraphQLList):
            inner = self.completion(type_.of_type, node)
            return None if inner is None else ListOf(inner, type_.of_type)
        if isinstance(type_, GraphQLLeafType):
            return Leaf(type_)
        if isinstance(type_, GraphQLObjectType) and node.selection_set is not None:
            return self.object(type_, node.selection_set)
        return None  # interfaces and unions


def _attribute_read(definition: GraphQLField) -> Callable[[Any], Any] | None:
    """What strawberry's basic-field resolver does (its default resolver is getattr)."""
    field = (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(field, StrawberryField) or field.base_resolver is not None:
        return None
    if field.default_resolver is not getattr or "." in field.python_name:
        return None
    return operator.attrgetter(field.python_name)


class Run:
    """One execution of a plan: the request's context, variables and errors."""

    def __init__(
        self,
        schema: GraphQLSchema,
        plan: Plan,
        context: object,
        variables: VariableValues,
        is_awaitable: IsAwaitable,
        info_class: type[Any],
        extensions: Any = None,
    ) -> None:
        self.schema = schema
        self.info_class = info_class  # strawberry's Info, which resolvers receive
        self.extensions = extensions  # the request's, as strawberry's info carries them
        self.plan = plan
        self.context = context
        self.variables = variables
        self.is_awaitable = is_awaitable
        self.errors: list[GraphQLError] = []
        self.helpers = GraphQLResolveInfoHelpers(gather=_gather_list, track=_track_nothing)

    async def execute(self) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        try:
            data = self.object(self.plan.root, None, None)
            if self.is_awaitable(data):
                data = await data
        except GraphQLError as error:  # a non-null root field failed: no data at all
            self.errors.append(error)
            return None, self.errors
        return data, self.errors

    def info(self, plan: FieldPlan, path: Path) -> Any:
        return ResolveInfo(
            plan.name,
            plan.nodes,
            plan.definition.type,
            plan.parent,
            path,
            self.schema,
            self.plan.fragments,
            None,
            self.plan.operation,
            self.variables.coerced,
            self.context,
            self.is_awaitable,
            None,
            self.helpers,
            self.extensions,
        )

    def call(self, direct: Direct, source: Any, info: Any) -> Any:
        """What strawberry's wrappers would call, with the arguments they would pass."""
        arguments: dict[str, Any] = dict.fromkeys(direct.source_names, source)
        if direct.info_name is not None:
            arguments[direct.info_name] = self.info_class(_raw_info=info, _field=direct.field)
        if direct.pass_self:
            return direct.call(source, **arguments)
        return direct.call(**arguments)

    def object(self, shape: Object, source: Any, path: Path | None) -> Any:
        """The object's fields (a dict), or an awaitable of it if any field is asynchronous."""
        data: dict[str, Any] = {}
        waiting: list[tuple[str, Awaitable[Any]]] = []
        try:
            for plan in shape.fields:
                value = self.field(plan, source, path)
                if self.is_awaitable(value):
                    waiting.append((plan.key, value))
                    value = None
                data[plan.key] = value
        except Exception:
            _close(aw for _, aw in waiting)
            raise
        if not waiting:
            return data
        return self._fill(data, waiting)

    async def _fill(self, data: dict[str, Any], waiting: list[tuple[str, Awaitable[Any]]]) -> Any:
        values = await _settle([aw for _, aw in waiting])
        for (key, _), value in zip(waiting, values, strict=True):
            data[key] = value
        return data

    def field(self, plan: FieldPlan, source: Any, parent: Path | None) -> Any:
        if plan.resolve is None:  # __typename
            return plan.parent.name
        if plan.leaf is not None:
            try:
                return self.leaf(plan, plan.leaf, source, parent)
            except Exception as raw:  # noqa: BLE001
                path = Path(parent, plan.key, plan.parent.name)
                return self.failed(plan.definition.type, plan, path, raw)
        path = Path(parent, plan.key, plan.parent.name)
        info = None
        try:
            if plan.read is not None:
                result = plan.read(source)
            elif plan.basic:
                result = plan.resolve(source, None)
            elif plan.direct is not None:
                info = self.info(plan, path)
                result = self.call(plan.direct, source, info)
            else:
                info = self.info(plan, path)
                arguments = (
                    get_argument_values(plan.definition, plan.nodes[0], self.variables, None, True)
                    if plan.has_arguments
                    else {}
                )
                result = plan.resolve(source, info, **arguments)
            if self.is_awaitable(result):
                return self._await_field(plan, path, info, result)
            assert plan.completion is not None
            completed = self.complete(plan, plan.completion, path, info, result)
            if self.is_awaitable(completed):
                return self._await_completed(plan, path, completed)
            return completed
        except Exception as raw:  # noqa: BLE001 - located on its field, as graphql-core does
            return self.failed(plan.definition.type, plan, path, raw)

    def leaf(self, plan: FieldPlan, leaf: GraphQLLeafType, source: Any, parent: Path | None) -> Any:
        """A basic scalar field: `complete` for a leaf, without a path unless it fails."""
        read = plan.read
        if read is not None:
            result = read(source)
        else:
            assert plan.resolve is not None
            result = plan.resolve(source, None)
        if self.is_awaitable(result):
            return self._await_field(plan, Path(parent, plan.key, plan.parent.name), None, result)
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            if plan.non_null:
                raise TypeError(_null_message(plan))
            return None
        return _leaf(leaf, result)

    async def _await_field(
        self, plan: FieldPlan, path: Path, info: Any, result: Awaitable[Any]
    ) -> Any:
        try:
            resolved = await result
            assert plan.completion is not None
            completed = self.complete(plan, plan.completion, path, info, resolved)
            if self.is_awaitable(completed):
                completed = await completed
            return completed
        except Exception as raw:  # noqa: BLE001
            return self.failed(plan.definition.type, plan, path, raw)

    async def _await_completed(self, plan: FieldPlan, path: Path, completed: Awaitable[Any]) -> Any:
        try:
            return await completed
        except Exception as raw:  # noqa: BLE001
            return self.failed(plan.definition.type, plan, path, raw)

    def failed(self, type_: GraphQLOutputType, plan: FieldPlan, path: Path, raw: Exception) -> None:
        """Null here, with the error; under a non-null type the error goes up to the parent."""
        error = located_error(raw, plan.nodes, path.as_list())
        if isinstance(type_, GraphQLNonNull):
            raise error
        self.errors.append(error)
        return None

    def complete(
        self, plan: FieldPlan, shape: Completion, path: Path, info: Any, result: Any
    ) -> Any:
        if isinstance(result, Exception):
            raise result
        if isinstance(shape, NonNull):
            completed = self.complete(plan, shape.inner, path, info, result)
            if self.is_awaitable(completed):
                return self._non_null(plan, completed)
            if completed is None:
                raise TypeError(_null_message(plan))
            return completed
        if result is None or result is Undefined:
            return None
        if isinstance(shape, Leaf):
            return _leaf(shape.type, result)
        if isinstance(shape, ListOf):
            return self.complete_list(plan, shape, path, info, result)
        return self.complete_object(plan, shape, path, info, result)

    async def _non_null(self, plan: FieldPlan, completed: Awaitable[Any]) -> Any:
        value = await completed
        if value is None:
            raise TypeError(_null_message(plan))
        return value

    def complete_object(
        self, plan: FieldPlan, shape: Object, path: Path, info: Any, result: Any
    ) -> Any:
        is_type_of = shape.type.is_type_of
        if is_type_of is not None:
            matches = is_type_of(result, info if info is not None else self.info(plan, path))
            if self.is_awaitable(matches):  # graphql-core allows it; none of ours is
                raise TypeError(f"{shape.type.name}.is_type_of must not be asynchronous")
            if not matches:
                raise GraphQLError(
                    f"Expected value of type '{shape.type}' but got: {inspect(result)}.",
                    plan.nodes,
                )
        return self.object(shape, result, path)

    def complete_list(
        self, plan: FieldPlan, shape: ListOf, path: Path, info: Any, result: Any
    ) -> Any:
        if isinstance(result, str | bytes | dict) or not isinstance(result, Iterable):
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{plan.parent.name}.{plan.name}'."
            )
        items: list[Any] = []
        waiting: list[tuple[int, Awaitable[Any]]] = []
        try:
            for index, value in enumerate(result):
                completed = self._list_item(plan, shape, Path(path, index, None), info, value)
                if self.is_awaitable(completed):
                    waiting.append((index, completed))
                    completed = None
                items.append(completed)
        except Exception:
            _close(aw for _, aw in waiting)
            raise
        if not waiting:
            return items
        return self._fill_list(items, waiting)

    async def _fill_list(self, items: list[Any], waiting: list[tuple[int, Awaitable[Any]]]) -> Any:
        values = await _settle([aw for _, aw in waiting])
        for (index, _), value in zip(waiting, values, strict=True):
            items[index] = value
        return items

    def _list_item(self, plan: FieldPlan, shape: ListOf, path: Path, info: Any, value: Any) -> Any:
        try:
            if self.is_awaitable(value):
                return self._await_item(plan, shape, path, info, self._resolved(value))
            completed = self.complete(plan, shape.inner, path, info, value)
            if self.is_awaitable(completed):
                return self._await_item(plan, shape, path, info, completed)
            return completed
        except Exception as raw:  # noqa: BLE001
            return self.failed(shape.item_type, plan, path, raw)

    async def _resolved(self, value: Awaitable[Any]) -> Any:
        return _Resolved(await value)

    async def _await_item(
        self, plan: FieldPlan, shape: ListOf, path: Path, info: Any, pending: Awaitable[Any]
    ) -> Any:
        try:
            value = await pending
            if isinstance(value, _Resolved):  # an awaitable item: complete what it gave
                value = self.complete(plan, shape.inner, path, info, value.value)
                if self.is_awaitable(value):
                    value = await value
            return value
        except Exception as raw:  # noqa: BLE001
            return self.failed(shape.item_type, plan, path, raw)


@dataclass(frozen=True, slots=True)
class _Resolved:
    value: Any


def _leaf(type_: GraphQLLeafType, result: Any) -> Any:
    coerced = type_.coerce_output_value(result)
    if coerced is Undefined or coerced is None:
        raise TypeError(
            f"Expected `{inspect(type_)}.coerce_output_value({inspect(result)})` to return"
            f" non-nullable value, returned: {inspect(coerced)}"
        )
    return coerced


def _null_message(plan: FieldPlan) -> str:
    return f"Cannot return null for non-nullable field {plan.parent.name}.{plan.name}."


async def _settle(awaitables: list[Awaitable[Any]]) -> list[Any]:
    """Every awaitable's value, all of them run together and settled; then the first error."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    values = await asyncio.gather(*awaitables, return_exceptions=True)
    for value in values:
        if isinstance(value, BaseException):
            raise value
    return values


def _close(awaitables: Iterable[Awaitable[Any]]) -> None:
    """Close coroutines that will never be awaited (a sibling failed before they started)."""
    for awaitable in awaitables:
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()


async def _gather_list(values: Any) -> list[Any]:
    return await _settle(list(values))


def _track_nothing(values: Any) -> None:
    """Resolvers' background work is theirs to await: plans run none of their own."""


def coerce_variables(
    schema: GraphQLSchema, plan: Plan, inputs: dict[str, Any] | None
) -> VariableValues | None:
    """The operation's coerced variables, or None if they are invalid (graphql-core reports it)."""
    values = get_variable_values(
        schema, plan.operation.variable_definitions or (), inputs or {}, hide_suggestions=True
    )
    return None if isinstance(values, list) else values
