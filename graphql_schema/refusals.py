"""The one table from the domain's refusals to what the API says of them, and the one way a
resolver uses it.

app/ raises domain errors only: a class per rule, carrying the facts that explain it (numbers,
ids, and in `field` the request value at fault: a snake_case name, or a path of names and line
indexes, with no `input` in front). This module alone decides, for each class, the `UserErrorCode`, the field path
(camelCased here, the way Strawberry names the inputs) and, where the API's words differ from the
domain's, the message. A new refusal is one line in `REFUSALS`.

A resolver runs its work through `as_payload` (a mutation: a refusal becomes a userError in the
payload) or `as_query` (a query: a refusal becomes a top-level error with the same code), giving
a `Where` that says where its own input names the member and the points (an admin's `memberId`,
a partner's `member`; none when the member is the caller). A few refusals are never userErrors
(a program not configured yet, a caller whose member is gone): both ways raise those as top-level
errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, TypeVar

from strawberry.utils.str_converters import to_camel_case

from app import segments
from app.auth import (
    InvalidCredentials,
    InvalidRefreshToken,
    PhoneTaken,
    TooManyAttempts,
    TooManySignUps,
    WeakPassword,
)
from app.bounds import KeyOutOfBounds
from app.console_links import LinkInvalid
from app.corrections import InvalidCorrection, InvalidFilter, InvalidKey
from app.draws import errors as draws
from app.engagement import errors as engagement
from app.importer import ImportRunning, InvalidUpload, UploadConflict
from app.ledger import (
    AccountClosed,
    AccountFrozen,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidPoints,
    PointsLimitExceeded,
)
from app.members import (
    InvalidMemberReference,
    InvalidPhone,
    InvalidProfile,
    MemberErased,
    MemberNotFound,
    MemberSuspended,
    PhoneInUse,
)
from app.messaging import (
    InvalidPolicy,
    InvalidTemplate,
    MessageNotDead,
    MessageNotFound,
    TransactionalNeedsAChannel,
    UnknownChannel,
    UnknownEventKind,
    UnknownLanguage,
)
from app.notifications import DeviceNotFound, InvalidPushToken, NotANotificationId
from app.partners import CampaignNotFound
from app.partners import errors as partners
from app.program import (
    NoteTooLong,
    ProgramInvalid,
    ProgramNotConfigured,
    ProgramRequestConflict,
    ProgramVersionNotFound,
)
from app.referrals import InvalidReferralCode
from app.reports import ReportInvalid, ReportTooLarge
from app.rewards import errors as rewards
from app.webhooks import EndpointNotFound, InvalidEndpoint, InvalidReplay
from graphql_schema.errors import (
    ClientError,
    ImportBusy,
    InvalidInput,
    NotConfigured,
    Unauthenticated,
)
from graphql_schema.ids import from_global_id
from graphql_schema.user_errors import (
    GenericUserError,
    InsufficientPointsError,
    LimitReachedError,
    OutOfStockError,
    RateLimitedError,
    UserError,
    UserErrorCode,
)

T = TypeVar("T")
Path = tuple[str, ...]
Steps = tuple[str | int, ...]


class Place(Enum):
    """A value whose path depends on the field: each `Where` says where its input names it."""

    MEMBER = auto()  # the member the request is about
    ACCOUNT = auto()  # the value that would take the member's account past its bound


def own(exc: Any) -> Steps | None:
    """The request value the domain error names itself, in its `field` (a name or a path)."""
    named: str | Steps | None = exc.field
    return (named,) if isinstance(named, str) else named


def own_or_member(exc: Any) -> Steps | Place:
    return own(exc) or Place.MEMBER


@dataclass(frozen=True)
class Refusal:
    """What the API says of one domain error: `field` is a path under the input (snake_case), a
    `Place`, or a function of the error; `message` replaces the domain's own when given; `shape`
    gives the facts of a typed userError (InsufficientPointsError...)."""

    code: UserErrorCode
    field: Steps | Place | Callable[[Any], Steps | Place | None] | None = None
    message: str | Callable[[Any], str] | None = None
    shape: Callable[[Any], dict[str, int]] | None = None
    verbatim: bool = False  # the path's names as they are, not camelCased
    each: Callable[[Any], Iterable[tuple[str, Steps]]] | None = None  # one userError per problem


@dataclass(frozen=True)
class Raised:
    """A refusal that is never a userError: a top-level error of this class, with this message
    (the domain's own when None)."""

    error: type[ClientError]
    message: str | None = None
    extensions: Callable[[Any], dict[str, object]] | None = None


def _points(exc: Any) -> dict[str, int]:
    return {"available": exc.available, "required": exc.required}


def _ledger_points(exc: InsufficientPoints) -> dict[str, int]:
    return {"available": exc.available, "required": exc.requested}


def _retry(exc: Any) -> dict[str, int]:
    return {"retry_after_seconds": exc.retry_after_seconds}


def _stock(exc: Any) -> dict[str, int]:
    return {"available": exc.available}


def _limit(exc: Any) -> dict[str, int]:
    return {"limit": exc.limit, "redeemed": exc.redeemed}


def _filter(exc: InvalidFilter) -> Steps:
    return ("filter",) if exc.field == "filter" else ("filter", exc.field)


class WrongId(Exception):
    """A global id in the input that is not one of the type the field takes (GraphQL's own ids,
    decoded before any service runs); `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def raw_id(global_id: str, type_name: str, field: str, noun: str) -> str:
    """The raw id inside `global_id`, or WrongId ("not a {noun} id") naming `field`."""
    try:
        return from_global_id(global_id, type_name)[1]
    except InvalidInput:
        raise WrongId(f"not a {noun} id", field) from None


C = UserErrorCode
MEMBER, ACCOUNT = Place.MEMBER, Place.ACCOUNT
KEY: Steps = ("idempotency_key",)

REFUSALS: dict[type[Exception], Refusal] = {
    # signing in
    InvalidPhone: Refusal(C.INVALID_INPUT, ("phone",)),
    WeakPassword: Refusal(C.INVALID_INPUT, ("password",)),
    PhoneTaken: Refusal(
        C.PHONE_TAKEN, ("phone",), "this phone number already has an account; log in instead"
    ),
    InvalidCredentials: Refusal(C.INVALID_CREDENTIALS, None, "wrong phone number or password"),
    InvalidRefreshToken: Refusal(
        C.INVALID_REFRESH_TOKEN, ("refresh_token",), "the refresh token is not valid; log in again"
    ),
    TooManySignUps: Refusal(
        C.RATE_LIMITED,
        None,
        lambda e: f"too many sign-ups; try again in {e.retry_after_seconds} s",
        _retry,
    ),
    TooManyAttempts: Refusal(
        C.RATE_LIMITED,
        None,
        lambda e: f"too many failed log-ins; try again in {e.retry_after_seconds} s",
        _retry,
    ),
    # the input itself
    WrongId: Refusal(C.INVALID_INPUT, own),
    KeyOutOfBounds: Refusal(C.INVALID_INPUT, own),
    # members
    MemberNotFound: Refusal(C.NOT_FOUND, MEMBER, "no such member"),
    CampaignNotFound: Refusal(C.NOT_FOUND, ("campaign_id",), "no such campaign in the program"),
    InvalidReferralCode: Refusal(C.INVALID_INPUT, own),
    # segments
    segments.SegmentInvalid: Refusal(C.INVALID_INPUT, own),
    segments.SegmentNotFound: Refusal(C.NOT_FOUND, ("id",), "no such segment"),
    segments.TooManySegments: Refusal(C.LIMIT_REACHED, None),
    MemberSuspended: Refusal(C.MEMBER_SUSPENDED, own_or_member),
    MemberErased: Refusal(C.MEMBER_ERASED, MEMBER, "the member was erased"),
    PhoneInUse: Refusal(C.PHONE_TAKEN, ("phone",), "another member has this phone"),
    InvalidProfile: Refusal(C.INVALID_INPUT, own),
    # the reference's database field (member_no, _id) as the API has always named it
    InvalidMemberReference: Refusal(
        C.INVALID_INPUT, lambda e: ("member", *(own(e) or ())), verbatim=True
    ),
    # the ledger
    InsufficientPoints: Refusal(C.INSUFFICIENT_POINTS, ("points",), shape=_ledger_points),
    AccountFrozen: Refusal(
        C.MEMBER_SUSPENDED, MEMBER, "this member is suspended: their points cannot be used"
    ),
    AccountClosed: Refusal(
        C.MEMBER_ERASED,
        MEMBER,
        "the member was erased: their points take no adjustment or extension",
    ),
    PointsLimitExceeded: Refusal(C.POINTS_LIMIT, ACCOUNT),
    IdempotencyConflict: Refusal(C.IDEMPOTENCY_CONFLICT, KEY),
    InvalidPoints: Refusal(C.INVALID_INPUT, ("points",)),
    # points corrections and bulk jobs
    InvalidCorrection: Refusal(C.VALIDATION, own),
    InvalidKey: Refusal(C.INVALID_INPUT, own),
    InvalidFilter: Refusal(C.VALIDATION, _filter),
    # the program
    ProgramRequestConflict: Refusal(C.IDEMPOTENCY_CONFLICT, KEY),
    NoteTooLong: Refusal(C.VALIDATION, ("note",)),
    # every problem of a configuration, at its path as the operator wrote it
    ProgramInvalid: Refusal(
        C.VALIDATION,
        each=lambda e: [(f.message, ("config", *f.steps)) for f in e.errors],
        verbatim=True,
    ),
    ProgramVersionNotFound: Refusal(
        C.INVALID_INPUT, ("version",), lambda e: f"there is no program version {e.version}"
    ),
    # imports
    InvalidUpload: Refusal(C.INVALID_INPUT, own),
    UploadConflict: Refusal(C.IDEMPOTENCY_CONFLICT, KEY),
    # notifications
    InvalidPushToken: Refusal(C.INVALID_INPUT, ("token",)),
    NotANotificationId: Refusal(C.INVALID_INPUT, ("ids",), "not a notification id"),
    DeviceNotFound: Refusal(C.NOT_FOUND, ("token",)),
    # messages outside the app: preferences, templates, dead letters
    TransactionalNeedsAChannel: Refusal(C.VALIDATION, ("opt_outs",)),
    UnknownLanguage: Refusal(C.INVALID_INPUT, own),
    UnknownChannel: Refusal(C.INVALID_INPUT, own),
    UnknownEventKind: Refusal(C.INVALID_INPUT, own),
    InvalidTemplate: Refusal(C.VALIDATION, own),
    InvalidPolicy: Refusal(C.VALIDATION, own),
    MessageNotFound: Refusal(C.NOT_FOUND, ("message_id",), "no such message"),
    MessageNotDead: Refusal(C.VALIDATION, ("message_id",)),
    # operators' console links
    LinkInvalid: Refusal(C.LINK_INVALID, ("code",)),
    # rewards: redemption
    rewards.InvalidQuantity: Refusal(C.INVALID_INPUT, ("quantity",)),
    rewards.RewardNotFound: Refusal(C.NOT_FOUND, ("reward_id",)),
    rewards.RewardUnavailable: Refusal(C.REWARD_UNAVAILABLE, ("reward_id",)),
    rewards.OutOfStock: Refusal(C.OUT_OF_STOCK, shape=_stock),
    rewards.LimitReached: Refusal(C.LIMIT_REACHED, shape=_limit),
    rewards.NotEnoughPoints: Refusal(C.INSUFFICIENT_POINTS, shape=_points),
    rewards.IdempotencyKeyReused: Refusal(C.IDEMPOTENCY_CONFLICT, KEY),
    # rewards: the catalog
    rewards.CatalogRefused: Refusal(C.INVALID_INPUT, own),
    rewards.RewardMissing: Refusal(C.NOT_FOUND, own),
    rewards.Missing: Refusal(C.NOT_FOUND, own),
    rewards.StockTooLow: Refusal(C.OUT_OF_STOCK, own),
    rewards.DuplicateCodes: Refusal(C.DUPLICATE_CODES, own),
    rewards.CouponUsed: Refusal(C.COUPON_USED, own),
    rewards.PointsLimit: Refusal(C.POINTS_LIMIT, own),
    rewards.KeyReused: Refusal(C.IDEMPOTENCY_CONFLICT, own),
    rewards.InvalidAddress: Refusal(C.INVALID_INPUT, own),
    rewards.AddressBookFull: Refusal(C.ADDRESS_BOOK_FULL, own),
    rewards.AddressMissing: Refusal(C.NOT_FOUND, own),
    rewards.IllegalTransition: Refusal(C.ILLEGAL_TRANSITION, own),
    rewards.PaymentRefused: Refusal(C.PAYMENT_REFUSED, own),
    rewards.RefundTooLarge: Refusal(C.OVER_REFUND, own),
    # partners
    partners.PartnerRefused: Refusal(C.INVALID_INPUT, own),
    partners.MemberNotFound: Refusal(C.NOT_FOUND, own),
    partners.OrderNotFound: Refusal(C.NOT_FOUND, own),
    partners.HoldNotFound: Refusal(C.NOT_FOUND, own),
    partners.HoldNotActive: Refusal(C.HOLD_NOT_ACTIVE, own),
    partners.IdempotencyConflict: Refusal(C.IDEMPOTENCY_CONFLICT, own),
    partners.OverRefund: Refusal(C.OVER_REFUND, own),
    partners.NotEnoughPoints: Refusal(C.INSUFFICIENT_POINTS, own, shape=_points),
    partners.PointsLimit: Refusal(C.POINTS_LIMIT, own),
    # engagement
    engagement.CheckInNotConfigured: Refusal(C.NOT_CONFIGURED),
    engagement.ActivitiesNotConfigured: Refusal(C.NOT_CONFIGURED),
    engagement.ActivityUnknown: Refusal(C.ACTIVITY_UNKNOWN, ("activity",)),
    engagement.ActivityLimitReached: Refusal(C.ACTIVITY_LIMIT_REACHED, ("activity",)),
    engagement.ReferenceConflict: Refusal(C.IDEMPOTENCY_CONFLICT, ("reference",)),
    # draws
    draws.DrawRefused: Refusal(C.INVALID_INPUT, own),
    # the model's field name (ends_at, daily_limit) as the API has always named it
    draws.DrawInvalid: Refusal(C.INVALID_INPUT, own, verbatim=True),
    draws.DrawNotFound: Refusal(C.NOT_FOUND, own),
    draws.DrawClosed: Refusal(C.DRAW_CLOSED, own),
    draws.DrawKeyReused: Refusal(C.IDEMPOTENCY_CONFLICT, own),
    draws.DailyLimitReached: Refusal(C.LIMIT_REACHED, own),
    draws.DrawUnaffordable: Refusal(C.INSUFFICIENT_POINTS, own),
    draws.PrizeOverLimit: Refusal(C.POINTS_LIMIT, own),
    # webhooks
    InvalidEndpoint: Refusal(C.INVALID_INPUT, own),
    EndpointNotFound: Refusal(C.NOT_FOUND, own),
    InvalidReplay: Refusal(C.INVALID_INPUT, own),
}

# Refusals that are never a userError.
RAISED: dict[type[Exception], Raised] = {
    ProgramNotConfigured: Raised(NotConfigured, "the program has not been configured yet"),
    partners.OffsetNotOffered: Raised(NotConfigured),
    ImportRunning: Raised(ImportBusy),
    ReportInvalid: Raised(InvalidInput, extensions=lambda e: {"argument": _camel(e.field)}),
    ReportTooLarge: Raised(
        InvalidInput, extensions=lambda e: {"argument": _camel(e.field), "limit": e.limit}
    ),
}

TYPED: dict[UserErrorCode, type[UserError]] = {
    C.INSUFFICIENT_POINTS: InsufficientPointsError,
    C.OUT_OF_STOCK: OutOfStockError,
    C.LIMIT_REACHED: LimitReachedError,
    C.RATE_LIMITED: RateLimitedError,
}


@dataclass(frozen=True)
class Where:
    """Where one field's input names what its refusals are about.

    `under` is the path of the input object (() when the field takes its arguments directly);
    `member` None means the member is the caller (a member gone is then the caller's token gone:
    UNAUTHENTICATED); `partner` is the partner API, which tells a partner an erased member is
    suspended (never that they were erased) and whose top-level errors keep the domain's message.
    """

    under: Path = ("input",)
    member: Steps | None = None
    account: Steps | None = None
    partner: bool = False

    def place(self, place: Place) -> Steps | None:
        return self.member if place is Place.MEMBER else self.account


CALLER = Where()
ARGUMENTS = Where(under=())
"""A field that takes its arguments directly, with no input object: paths start at the argument."""


def _camel(step: str | int) -> str:
    return to_camel_case(step) if isinstance(step, str) else str(step)


def _path(refusal: Refusal, exc: Exception, where: Where) -> list[str] | None:
    spec = refusal.field
    if callable(spec):
        spec = spec(exc)
    return _steps(refusal, where.place(spec) if isinstance(spec, Place) else spec, where)


def _steps(refusal: Refusal, steps: Steps | None, where: Where) -> list[str] | None:
    if steps is None:
        return None
    return [*where.under, *map(str if refusal.verbatim else _camel, steps)] or None


def refusal_of(exc: Exception, where: Where = CALLER) -> Refusal | None:
    """The table's entry for `exc`: its own class's, else its nearest mapped base class's."""
    if where.partner and isinstance(exc, AccountFrozen):
        return REFUSALS[AccountFrozen]
    for cls in type(exc).__mro__:
        found = REFUSALS.get(cls)
        if found is not None:
            return found
    return None


def user_errors(exc: Exception, where: Where = CALLER) -> list[UserError]:
    """The userErrors of a refusal in the table (one, or one per problem it lists); an error
    outside the table is raised again."""
    refusal = refusal_of(exc, where)
    if refusal is None:
        raise exc
    if refusal.each is not None:
        return [
            GenericUserError(
                code=refusal.code, message=message, field=_steps(refusal, steps, where)
            )
            for message, steps in refusal.each(exc)
        ]
    given = refusal.message
    message = given(exc) if callable(given) else given or str(exc)
    path = _path(refusal, exc, where)
    if refusal.shape is None:
        return [GenericUserError(code=refusal.code, message=message, field=path)]
    typed = TYPED[refusal.code]
    return [typed(code=refusal.code, message=message, field=path, **refusal.shape(exc))]


def raised(exc: Exception, where: Where = CALLER) -> ClientError | None:
    """The top-level error of a refusal that is never a userError, else None."""
    for cls in type(exc).__mro__:
        found = RAISED.get(cls)
        if found is not None:
            keep = where.partner or found.message is None
            extensions = found.extensions(exc) if found.extensions else {}
            return found.error(str(exc) if keep else str(found.message), **extensions)
    if isinstance(exc, MemberNotFound) and where.member is None:
        return Unauthenticated("the member of this token does not exist")
    return None


REFUSED: tuple[type[Exception], ...] = (*REFUSALS, *RAISED)


async def as_payload(
    run: Callable[[], Awaitable[T]], failed: Callable[[list[UserError]], T], where: Where = CALLER
) -> T:
    """The mutation's result, or its payload with the refusal as its userErrors."""
    try:
        return await run()
    except REFUSED as exc:
        top = raised(exc, where)
        if top is not None:
            raise top from None
        return failed(user_errors(exc, where))


class Refused(ClientError):
    """A query's refusal: extensions.code is the refusal's code (NOT_FOUND, MEMBER_SUSPENDED...)."""

    def __init__(self, code: UserErrorCode, message: str, field: list[str] | None) -> None:
        self.code = "BAD_USER_INPUT" if code is UserErrorCode.INVALID_INPUT else code.value
        super().__init__(message, field=field)


async def as_query(run: Callable[[], Awaitable[T]], where: Where = CALLER) -> T:
    """A query's result; a refusal becomes a top-level error with the refusal's code."""
    try:
        return await run()
    except REFUSED as exc:
        top = raised(exc, where)
        if top is not None:
            raise top from None
        [error] = user_errors(exc, where)
        raise Refused(error.code, error.message, error.field) from None
