"""Message templates: the text of an e-mail, an SMS or a push, written by an operator in Jinja2
and rendered with one member's values.

An operator is not a developer, and an operator's account can be stolen: a template is untrusted
code, and rendering it must neither reach into the process nor stop it. Three walls:

1. Jinja2's `SandboxedEnvironment`: no attribute that starts with an underscore, no internals of
   functions or frames, so `{{ ''.__class__.__mro__ }}` reaches nothing. Globals are emptied
   (no `range`, `namespace`, `cycler`, `lipsum`) and only the filters listed in ALLOWED_FILTERS
   exist. HTML autoescapes every value; text and SMS do not (there is nothing to escape in them,
   and `&amp;` in an SMS is a bug). StrictUndefined: a missing value is an error, never an empty
   hole in a message already sent to a million members.
2. What cannot be bounded is refused when the template is saved (`check_template`), with its
   line: a loop may only walk a declared list (whose length `render` bounds) and loops do not
   nest; no call at all (`name.ljust(10**9)`, `loop.cycle()`): filters do what calls would; no
   `set`, `with`, macros, blocks, includes or imports (assignment lets `{% set a = a ~ a %}`
   double a string per line, macros recurse); no `{% autoescape false %}`; no name starting with
   an underscore (the sandbox would refuse it too, but only on the branch that runs). Whatever is left runs in time linear in the
   template's length times the longest declared list, which is why that is the choice rather
   than counting steps: Python offers no way to stop a render from outside short of a process,
   and counting inside Jinja2 means patching its compiled code.
3. What only a value can tell is counted while rendering: `*` may not repeat a string or list
   past MAX_REPEAT, `*` and `**` may not make an integer past MAX_NUMBER_BITS, `%` does not
   format strings (`'%9999999s' % name`), and the output is cut (OutputTooLong) as soon as it
   passes the format's bound, chunk by chunk, before it is all in memory. Jinja2's constant folding is off, so nothing of the template runs
   when it is compiled.

`check_template` is the save-time check: it also renders the template once with sample values,
so a template that parses but fails (a filter given a wrong type, an attribute a value lacks,
the sandbox refusing) is refused then, with its line, not when the first member's message is due.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from types import TracebackType
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment


class TemplateFormat(StrEnum):
    TEXT = "text"  # an e-mail's text part, a push
    HTML = "html"  # an e-mail's HTML part: every value escaped
    SMS = "sms"


class VariableKind(StrEnum):
    TEXT = "text"  # str
    NUMBER = "number"  # int or Decimal
    DATE = "date"  # a date, or an aware datetime (shown in the render's time zone)
    LIST = "list"  # a list of texts or numbers: the only thing a loop may walk


# The values a member's message can use; the domain declares which of them each message has.
MEMBER_VARIABLES: Mapping[str, VariableKind] = {
    "name": VariableKind.TEXT,
    "program_name": VariableKind.TEXT,
    "points": VariableKind.NUMBER,
    "balance": VariableKind.NUMBER,
    "expires_on": VariableKind.DATE,
    "reward": VariableKind.TEXT,
    "unsubscribe_url": VariableKind.TEXT,
}

# Bounds (docs/channels.md lists them).
MAX_SOURCE_LENGTH = {
    TemplateFormat.TEXT: 10_000,
    TemplateFormat.HTML: 50_000,
    TemplateFormat.SMS: 1_000,
}
MAX_OUTPUT_LENGTH = {
    TemplateFormat.TEXT: 50_000,
    TemplateFormat.HTML: 200_000,
    TemplateFormat.SMS: 2_000,
}
MAX_VALUE_LENGTH = 1_000  # characters of one text value or list item
MAX_LIST_ITEMS = 100
MAX_REPEAT = 1_000  # items (characters) `*` may make of a string or a list
MAX_NUMBER_BITS = 4_096
MAX_DATE_FORMAT_LENGTH = 64

ALLOWED_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "int", "join",
        "last", "length", "lower", "round", "string", "title", "trim", "truncate", "upper",
        "urlencode",
    }
)  # fmt: skip
# Statements whose cost no bound at save time can cap, or that reach outside the template.
_FORBIDDEN = {
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.With: "with",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.Block: "block",
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.EvalContextModifier: "autoescape",  # `{% autoescape false %}` would unescape HTML
}
TEMPLATE_NAME = "<template>"
_SAMPLES: Mapping[VariableKind, Any] = {
    VariableKind.TEXT: "示例 <Sample> & “Co”",
    VariableKind.NUMBER: 1234,
    VariableKind.DATE: datetime(2026, 12, 7, 16, 30, tzinfo=UTC),
    VariableKind.LIST: ["示例", "Sample"],
}
_zone: contextvars.ContextVar[tzinfo] = contextvars.ContextVar("template_zone", default=UTC)

Value = str | int | Decimal | date | Sequence[str | int | Decimal]


class TemplateError(ValueError):
    """A template refused, at save time or when rendering; `line` is the template's line (1 is
    the first) when one line is at fault."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class TemplateDoesNotParse(TemplateError):
    """The template is not valid Jinja2 (or nests deeper than the parser goes)."""


class UndeclaredVariable(TemplateError):
    """A template may use only the variables its message declares: another is a typing slip or a
    value the message will never have."""

    def __init__(self, name: str, line: int | None) -> None:
        super().__init__(f"{name!r} is not a variable of this message", line)
        self.name = name


class ConstructNotAllowed(TemplateError):
    """A construct whose cost cannot be bounded, or that reaches outside the template."""


class TemplateTooLong(TemplateError):
    """A template longer than its format's bound."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"{length} characters, more than {limit}")
        self.length = length
        self.limit = limit


class RenderRefused(TemplateError):
    """Rendering stopped: the sandbox refused an access, a value lacked an attribute, a filter
    was given the wrong type, or a bound was passed."""


class OutputTooLong(RenderRefused):
    """A render (or one `*`) that would pass its bound; nothing past the bound was made."""


class VariableRefused(TemplateError):
    """A value `render` does not take: its type, its length, or a list past MAX_LIST_ITEMS."""


class UnknownTimeZone(ValueError):
    """Not an IANA time zone name (`Asia/Shanghai`)."""


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            integers = isinstance(left, int) and isinstance(right, int)
            if integers and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
                raise OutputTooLong(f"'*' may make numbers of up to {MAX_NUMBER_BITS} bits")
            for sequence, times in ((left, right), (right, left)):
                repeats = isinstance(sequence, str | list | tuple) and isinstance(times, int)
                if repeats and len(sequence) * times > MAX_REPEAT:
                    raise OutputTooLong(f"'*' may repeat up to {MAX_REPEAT} items")
        elif operator == "**":
            integers = isinstance(left, int) and isinstance(right, int) and right > 0
            if integers and max(abs(left).bit_length(), 1) * right > MAX_NUMBER_BITS:
                raise OutputTooLong(f"'**' may make numbers of up to {MAX_NUMBER_BITS} bits")
        elif operator == "%" and isinstance(left, str):
            raise RenderRefused("'%' does not format text here: use filters")
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> _Sandbox:
    environment = _Sandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        optimized=False,  # no constant folding: nothing of a template runs when it compiles
        keep_trailing_newline=True,
    )
    environment.globals.clear()
    environment.filters = {name: environment.filters[name] for name in sorted(ALLOWED_FILTERS)} | {
        "date": format_date,
        "digits": group_digits,
    }
    return environment


def format_date(value: object, pattern: str = "%Y-%m-%d") -> str:
    """The `date` filter: an aware datetime as its date (and time) in the render's time zone, a
    date as it is. `{{ expires_on|date('%Y年%m月%d日') }}`."""
    if not isinstance(pattern, str) or len(pattern) > MAX_DATE_FORMAT_LENGTH:
        raise RenderRefused(f"a date format is text of up to {MAX_DATE_FORMAT_LENGTH} characters")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RenderRefused("a datetime without a time zone")
        return value.astimezone(_zone.get()).strftime(pattern)
    if isinstance(value, date):
        return value.strftime(pattern)
    raise RenderRefused(f"the date filter takes a date, not {type(value).__name__}")


def group_digits(value: object, separator: str = ",") -> str:
    """The `digits` filter: 1234567 as 1,234,567 (or with the separator given)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RenderRefused(f"the digits filter takes a number, not {type(value).__name__}")
    if not isinstance(separator, str) or len(separator) > 3:
        raise RenderRefused("a digit separator is up to 3 characters")
    return f"{value:,}".replace(",", separator)


_ENVIRONMENTS = {
    TemplateFormat.TEXT: _environment(autoescape=False),
    TemplateFormat.HTML: _environment(autoescape=True),
    TemplateFormat.SMS: _environment(autoescape=False),
}


def zone(name: str | tzinfo) -> tzinfo:
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"{name!r} is not an IANA time zone") from None


def check_template(
    source: str,
    declared: Mapping[str, VariableKind],
    template_format: TemplateFormat = TemplateFormat.TEXT,
) -> None:
    """The save-time check: refuse (a TemplateError with the line) a template that does not
    parse, uses an undeclared variable, uses what cannot be bounded, or fails on sample values."""
    _compiled(source, template_format, frozenset(declared.items()))
    samples = {name: _SAMPLES[kind] for name, kind in declared.items()}
    _render(source, samples, zone("Asia/Shanghai"), template_format, declared)


def render(
    source: str,
    variables: Mapping[str, Value],
    tz: str | tzinfo,
    template_format: TemplateFormat = TemplateFormat.TEXT,
) -> str:
    """The template rendered with one member's values, dates shown in `tz` (an IANA name). The
    declared variables are the values given; the checks of `check_template` run first (once per
    template and set of variables, then cached)."""
    declared = {name: _kind(name, value) for name, value in variables.items()}
    return _render(source, variables, zone(tz), template_format, declared)


def _render(
    source: str,
    variables: Mapping[str, object],
    tz: tzinfo,
    template_format: TemplateFormat,
    declared: Mapping[str, VariableKind],
) -> str:
    template = _compiled(source, template_format, frozenset(declared.items()))
    limit = MAX_OUTPUT_LENGTH[template_format]
    token = _zone.set(tz)
    chunks: list[str] = []
    size = 0
    try:
        generator = cast(Generator[str, None, None], template.generate(dict(variables)))
        try:
            for chunk in generator:
                size += len(chunk)
                if size > limit:
                    raise OutputTooLong(f"the output passes {limit} characters")
                chunks.append(chunk)
        finally:
            generator.close()
    except TemplateError as exc:
        if exc.line is None:
            exc.line = _template_line(exc.__traceback__)
            exc.args = (f"line {exc.line}: {exc.args[0]}",) if exc.line else exc.args
        raise
    except Exception as exc:  # the sandbox, StrictUndefined, a filter given the wrong type
        raise RenderRefused(str(exc), _template_line(exc.__traceback__)) from None
    finally:
        _zone.reset(token)
    return "".join(chunks)


def _template_line(traceback: TracebackType | None) -> int | None:
    """The template line an exception was raised at: Jinja2 rewrites tracebacks so the frames of
    the template's code carry its name and line."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _kind(name: str, value: object) -> VariableKind:
    if not name.isidentifier() or name.startswith("_"):
        raise VariableRefused(f"{name!r} is not a variable name")
    if isinstance(value, str):
        _check_text(name, value)
        return VariableKind.TEXT
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return VariableKind.NUMBER
    if isinstance(value, date):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise VariableRefused(f"{name}: a datetime without a time zone")
        return VariableKind.DATE
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST_ITEMS:
            raise VariableRefused(f"{name}: {len(value)} items, more than {MAX_LIST_ITEMS}")
        for item in value:
            if isinstance(item, str):
                _check_text(name, item)
            elif isinstance(item, bool) or not isinstance(item, int | Decimal):
                raise VariableRefused(f"{name}: a list holds texts and numbers")
        return VariableKind.LIST
    raise VariableRefused(f"{name}: {type(value).__name__} is not a template value")


def _check_text(name: str, value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise VariableRefused(f"{name}: {len(value)} characters, more than {MAX_VALUE_LENGTH}")


@functools.lru_cache(maxsize=256)
def _compiled(
    source: str,
    template_format: TemplateFormat,
    declared: frozenset[tuple[str, VariableKind]],
) -> JinjaTemplate:
    limit = MAX_SOURCE_LENGTH[template_format]
    if len(source) > limit:
        raise TemplateTooLong(len(source), limit)
    environment = _ENVIRONMENTS[template_format]
    kinds = dict(declared)
    try:
        tree = environment.parse(source, name=TEMPLATE_NAME)
        _refuse_unbounded(tree, {name for name, kind in kinds.items() if kind is VariableKind.LIST})
        _refuse_undeclared(tree, kinds)
        return environment.from_string(tree)
    except TemplateError:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateDoesNotParse(exc.message or "does not parse", exc.lineno) from None
    except (RecursionError, SyntaxError):  # the parser's recursion, or Python's own nesting limits
        raise TemplateDoesNotParse("nested too deep") from None
    except ValueError as exc:  # an integer literal past Python's 4,300 digits
        raise TemplateDoesNotParse(str(exc)) from None


def _refuse_undeclared(tree: nodes.Template, declared: Mapping[str, VariableKind]) -> None:
    undeclared = meta.find_undeclared_variables(tree) - declared.keys()
    if undeclared:
        uses = [
            (name.lineno, name.name)
            for name in tree.find_all(nodes.Name)
            if name.ctx == "load" and name.name in undeclared
        ]
        line, first = min(uses)
        raise UndeclaredVariable(first, line)


def _refuse_unbounded(tree: nodes.Template, lists: set[str]) -> None:
    """Refuse, with its line, every construct the module docstring says cannot be bounded."""
    for node, in_loop in _walk(tree, in_loop=False):
        for kind, statement in _FORBIDDEN.items():
            if isinstance(node, kind):
                raise ConstructNotAllowed(f"'{statement}' is not allowed in a message", node.lineno)
        if isinstance(node, nodes.Call):
            raise ConstructNotAllowed("calls are not allowed: use a filter", node.lineno)
        if isinstance(node, nodes.For):
            if in_loop:
                raise ConstructNotAllowed("loops may not nest", node.lineno)
            if node.recursive:
                raise ConstructNotAllowed("recursive loops are not allowed", node.lineno)
            if not (isinstance(node.iter, nodes.Name) and node.iter.name in lists):
                raise ConstructNotAllowed("a loop may only walk a declared list", node.lineno)
        if isinstance(node, nodes.Filter | nodes.FilterBlock):
            name = node.name if isinstance(node, nodes.Filter) else node.filter.name
            if name not in ALLOWED_FILTERS | {"date", "digits"}:
                raise ConstructNotAllowed(f"no filter named {name!r}", node.lineno)
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise ConstructNotAllowed(f"{node.attr!r} is internal", node.lineno)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
            if isinstance(key, str) and key.startswith("_"):
                raise ConstructNotAllowed(f"{key!r} is internal", node.lineno)


def _walk(node: nodes.Node, in_loop: bool) -> Iterator[tuple[nodes.Node, bool]]:
    yield node, in_loop
    inside = in_loop or isinstance(node, nodes.For)
    for child in node.iter_child_nodes():
        yield from _walk(child, inside)
