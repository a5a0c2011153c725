"""The error vocabulary has one place: graphql_schema/refusals.py maps each domain error to its
code and field, app/ raises domain errors only, and every domain error app/ raises is mapped.

These read the source (ast) and the table itself: a new refusal that skips the table, or a GraphQL
code or camelCase input path written into app/, fails here with its file and line.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

from graphql_schema.refusals import RAISED, REFUSALS, Where, refusal_of, user_errors
from graphql_schema.user_errors import UserErrorCode

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
SCHEMA = ROOT / "graphql_schema"
TABLE = SCHEMA / "refusals.py"
CODES = {code.value for code in UserErrorCode}
CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)+")

# Errors app/ raises that are not refusals of a client's request: internal control flow, the
# operator's command line, the server's own setup and state. None reaches a resolver as an
# expected failure; one that does belongs in the table instead.
NOT_REFUSALS = {
    "app.auth.keygen.ForeignPublicKey",  # CLI: a key file that is not ours
    "app.auth.keys.UnknownKey",  # a token signed by a key we do not have: InvalidToken's cause
    "app.auth.sessions.SigningUnavailable",  # the server has no signing key (checked first)
    "app.auth.tokens.InvalidToken",  # the request context answers it: signed out
    "app.backup.archive.ArchiveRefused",  # CLI: jifen restore
    "app.cli.main.StopRequested",  # CLI: a signal
    "app.backup.restore.DatabaseNotEmpty",  # CLI: jifen restore
    "app.backup.restore.KeysDiffer",  # CLI: jifen restore
    "app.channels.email.HeaderInjection",
    "app.channels.email.InvalidAddress",
    "app.channels.email.MailerMisconfigured",
    "app.channels.email.MessageRefused",
    "app.channels.email.MessageTooLarge",  # a message the outbox builds from stored data
    "app.channels.push.PushRefused",
    "app.channels.sms.SmsRefused",  # an SMS the outbox builds, not a client request
    "app.channels.sms_callbacks.CallbackRefused",
    "app.webhooks.addresses.PrivateAddress",  # a delivery's failed attempt, never a client's  # a provider's callback: answered 400 in its shape
    "app.channels.templates.ConstructNotAllowed",
    "app.channels.templates.OutputTooLong",
    "app.channels.templates.RenderRefused",
    "app.channels.templates.TemplateDoesNotParse",
    "app.channels.templates.TemplateTooLong",
    "app.channels.templates.UndeclaredVariable",
    "app.channels.templates.UnknownTimeZone",
    "app.channels.templates.VariableRefused",  # until templates are saved through the API
    "app.config.ConfigurationError",  # startup
    "app.csv_files.BadHeader",  # an import file's header: reported per file, not raised to a client
    "app.data_folder.DataFolderMissing",  # CLI
    "app.data_folder.DataFolderUnusable",  # CLI
    "app.db.TransactionFailed",  # the transaction runner: retried or an internal error
    "app.embedded.EmbeddedNotInstalled",  # startup
    "app.embedded.EmbeddedStartError",  # startup
    "app.messaging.errors.BadUnsubscribeToken",  # the unsubscribe page answers 404, no GraphQL
    "app.engagement.check_in._AlreadyDone",  # control flow inside a transaction
    "app.engagement.check_in._WrongPath",  # control flow inside a transaction
    "app.importer.rows.Refused",  # one refused row, reported in the import's summary
    "app.ledger.book.front.FrontNotLoaded",  # a programming error
    "app.ledger.store.StaleAccount",  # a write conflict: the runner retries
    "app.notifications.hub.SubscriberOverflow",  # a live subscriber too slow: disconnected
    "app.partners.errors.PartnerInactive",  # a permission: partner_id answers FORBIDDEN
    "app.partners.budgets.BudgetMoved",  # a write conflict: retried
    "app.partners.refunds.StaleOrder",  # a write conflict: retried
    "app.corrections.bulk.JobBusy",  # a job's lease: the worker retries
    "app.corrections.bulk.JobNotFound",  # a read: the resolver answers null
    "app.corrections.bulk._Moved",  # control flow
    "app.sandbox_clock.ClockWouldGoBack",  # CLI: the sandbox clock
    "app.sandbox_clock.NotForward",  # CLI: the sandbox clock
    "app.ledger.errors.CaptureExceedsHold",  # partners turn it into their own refusal
    "app.ledger.errors.EntryNotFound",  # refunds look the entry up first
    "app.ledger.errors.HoldNotActive",  # partners turn it into their own refusal
    "app.ledger.errors.HoldNotFound",  # partners turn it into their own refusal
    "app.ledger.errors.InvalidRequest",  # a programming error (a naive instant, a bad TTL)
    "app.ledger.errors.ReversalExceedsEarn",  # refunds apportion within what is left first
}


def _python_files(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("*.py"))


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _strings(node: ast.AST) -> Iterator[ast.Constant]:
    """String constants in `node`, outside f-strings (a message's words are not a path)."""
    if isinstance(node, ast.JoinedStr):
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _strings(child)


def test_app_assigns_no_graphql_code() -> None:
    """No string in app/ is a UserErrorCode: the codes are the table's words."""
    found = [
        f"{path.relative_to(ROOT)}:{constant.lineno} {constant.value}"
        for path in _python_files(APP)
        for constant in _strings(ast.parse(path.read_text()))
        if constant.value in CODES
    ]
    assert found == []


def test_app_refusals_name_no_camel_case_field() -> None:
    """A refusal raised in app/ names the request value at fault in snake_case; the table
    camelCases it the way Strawberry names the inputs."""
    found = []
    for path in _python_files(APP):
        for node in ast.walk(ast.parse(path.read_text())):
            named: list[ast.AST] = []
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                named = [*node.exc.args, *(k.value for k in node.exc.keywords)]
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and (t.id == "field" or t.id.endswith("_FIELD"))
                for t in node.targets
            ):
                named = [node.value]
            for value in named:
                for constant in _strings(value):
                    if " " not in constant.value and CAMEL.fullmatch(constant.value):
                        found.append(f"{path.relative_to(ROOT)}:{constant.lineno} {constant.value}")
    assert found == []


def test_codes_are_assigned_in_the_table_only() -> None:
    """Outside refusals.py (and user_errors.py, which declares them), graphql_schema/ names no
    UserErrorCode and builds no userError by hand: every resolver goes through the table."""
    found = []
    for path in _python_files(SCHEMA):
        if path in (TABLE, SCHEMA / "user_errors.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in CODES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
            if isinstance(node, ast.Name) and node.id in ("user_error", "GenericUserError"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.id}")
    assert found == []


def _raised_in_app() -> dict[str, type[BaseException]]:
    """Every exception class defined in app/ that app/ raises, by qualified name."""
    raised: dict[str, type[BaseException]] = {}
    for path in _python_files(APP):
        if path.name == "__main__.py":  # runs the CLI when imported
            continue
        module = importlib.import_module(_module(path))
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else None
            cls = getattr(module, name, None) if name else None
            exception = isinstance(cls, type) and issubclass(cls, BaseException)
            if exception and cls.__module__.startswith("app."):
                raised[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return raised


def test_every_domain_error_raised_in_app_has_an_entry() -> None:
    """A class app/ raises is in the table (itself or a base class), or declared above as no
    refusal of a client's request."""
    unmapped = sorted(
        name
        for name, cls in _raised_in_app().items()
        if name not in NOT_REFUSALS
        and not any(base in REFUSALS or base in RAISED for base in cls.__mro__)
    )
    assert unmapped == []


def test_the_declared_exceptions_are_still_raised() -> None:
    """The list of non-refusals names classes app/ still raises (a stale entry hides nothing)."""
    raised = _raised_in_app()
    assert sorted(name for name in NOT_REFUSALS if name not in raised) == []


def test_every_entry_makes_a_user_error_with_its_code() -> None:
    """Each entry is found for its class and yields userErrors with its code, under the input."""
    for cls, refusal in REFUSALS.items():
        error = cls.__new__(cls)
        Exception.__init__(error, "refused")
        for name, value in {
            "field": None,
            "available": 1,
            "required": 2,
            "requested": 2,
            "limit": 3,
            "redeemed": 3,
            "retry_after_seconds": 4,
            "errors": [],
            "version": 5,
        }.items():
            if not hasattr(error, name):
                setattr(error, name, value)
        made = user_errors(error, Where(member=("member_id",), account=("points",)))
        assert all(one.code is refusal.code for one in made), cls
        assert refusal_of(error) is refusal, cls
        for one in made:
            assert one.field is None or one.field[0] == "input", (cls, one.field)
