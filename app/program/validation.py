"""Turning a configuration mapping (TOML or JSON) into a Program, or into every reason it is not one.

Operators and admins see the same list from the CLI and from GraphQL: each error names the field
path in the configuration (`earn.rules[2].multiplier`) and the reason. pydantic's own locations
are almost that path, except that a discriminated union adds its tag as a step
(`expiry.default.rolling.days` for `{kind = "rolling", days = 0}`): the path is rebuilt by walking
the submitted data, so it names only keys the operator wrote (or the missing one).

The version stamp (version, updated_at, updated_by, note) is the service's to set: a mapping
printed by `jifen program show` can be applied again, its stamp is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.program.conditions import MAX_DEPTH as CONDITION_DEPTH
from app.program.conditions import TAGS as CONDITION_TAGS
from app.program.models import Program

STAMP_FIELDS = ("version", "updated_at", "updated_by", "note")
# The deepest real path is a condition's: earn.rules[i].when, then two steps a level (all[j]) for
# conditions.MAX_DEPTH levels, then a leaf's list (in[k]).
MAX_DEPTH = 4 + 2 * CONDITION_DEPTH + 2
MAX_NODES = 20_000


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a configuration is refused: where (path steps, key or list index) and why."""

    steps: tuple[str | int, ...]
    message: str

    @property
    def path(self) -> str:
        """`earn.rules[2].multiplier`; the empty string for the configuration as a whole."""
        text = ""
        for step in self.steps:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        return text

    def __str__(self) -> str:
        return f"{self.path or '(program)'}: {self.message}"


class ProgramInvalid(Exception):
    """The configuration is not a valid program; `errors` lists every reason, nothing was applied."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def field_errors(exc: ValidationError, data: object) -> list[FieldError]:
    """Every error of a ValidationError raised on `data`, with the path the operator wrote."""
    return [FieldError(_steps(error["loc"], data), _reason(error["msg"])) for error in exc.errors()]


def parse_program(data: object) -> Program:
    """The Program a configuration mapping describes, its stamp ignored; ProgramInvalid if not."""
    problem = _shape_problem(data)
    if problem is not None:
        raise ProgramInvalid([problem])
    assert isinstance(data, Mapping)
    config = {key: value for key, value in data.items() if key not in STAMP_FIELDS}
    try:
        return Program.model_validate(config)
    except ValidationError as exc:
        raise ProgramInvalid(field_errors(exc, config)) from None


def _shape_problem(data: object) -> FieldError | None:
    """A configuration is a mapping, nested at most MAX_DEPTH deep, of at most MAX_NODES values."""
    if not isinstance(data, Mapping):
        return FieldError((), "the configuration must be a table (a JSON object)")
    nodes, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            limit = f"nested deeper than {MAX_DEPTH}" if depth > MAX_DEPTH else "too large"
            return FieldError((), f"the configuration is {limit}")
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((item, depth + 1) for item in value)
    return None


def _steps(loc: tuple[int | str, ...], data: object) -> tuple[str | int, ...]:
    steps: list[str | int] = []
    node: Any = data
    for n, step in enumerate(loc):
        if isinstance(node, Mapping):
            if step in node:
                steps.append(step)
                node = node[step]
                continue
            following = loc[n + 1] if n + 1 < len(loc) else None
            tag = step == node.get("kind") or step in CONDITION_TAGS
            if tag or (following is not None and following in node):
                continue  # a union's tag, not a key the operator wrote
            steps.append(step)
            node = None
        elif isinstance(node, list | tuple) and isinstance(step, int) and 0 <= step < len(node):
            steps.append(step)
            node = node[step]
        else:
            steps.append(step)
            node = None
    return tuple(steps)


def _reason(message: str) -> str:
    # A validator's ValueError reads "Value error, <our message>": the prefix says nothing.
    return message.removeprefix("Value error, ")
