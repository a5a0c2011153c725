"""The catalog of event types an endpoint may subscribe to, each with its version and the JSON
schema of its `data` (docs/events.md prints them). Adding a field is compatible; removing or
changing one is a new version."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_STR = {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT = {"type": "integer"}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


_ENTRY = _object(
    {
        "entry_id": _STR,
        "kind": {
            "enum": ["EARN", "REDEEM", "EXPIRE", "ADJUST", "REVERSAL", "CLEAR", "EXTEND", "MATURE"]
        },
        "points": _INT,
        "balance_after": _INT,
        "debt_change": _INT,
        "seq": _INT,
    },
    {
        "channel": _STR_OR_NULL,
        "reference": _STR_OR_NULL,
        "description": _STR_OR_NULL,
        "hold_id": _STR,
    },
)
_HOLD = _object(
    {"hold_id": _STR, "points": _INT, "status": _STR, "expires_at": _STR},
    {"reference": _STR_OR_NULL},
)
_REDEMPTION = _object(
    {"redemption_id": _STR, "reward_id": _STR, "quantity": _INT, "points": _INT},
    {"entry_id": _STR_OR_NULL, "voucher_partner_id": _STR_OR_NULL, "reason": _STR},
)
_FULFILMENT = _object(
    {"redemption_id": _STR, "reward_id": _STR, "quantity": _INT, "points": _INT, "status": _STR},
    {
        "entry_id": _STR_OR_NULL,
        "voucher_partner_id": _STR_OR_NULL,
        "reason": _STR,
        "carrier": _STR,
        "tracking_number": _STR_OR_NULL,
    },
)
_DRAW = _object({"draw_id": _STR, "draw_entry_id": _STR, "cost": _INT})
_DRAW_WON = _object(
    {"draw_id": _STR, "draw_entry_id": _STR, "cost": _INT, "prize_id": _STR, "prize_points": _INT},
    {"prize_name": _STR},
)
_STATUS = _object({"status": _STR})
_COUPON = _object(
    {"redemption_id": _STR, "reward_id": _STR},
    {
        "voucher_partner_id": _STR_OR_NULL,
        "expires_at": _STR_OR_NULL,
        "used_by_partner_id": _STR,
    },
)

# type: (version, what it means, the schema of its data)
EVENT_TYPES: dict[str, tuple[int, str, Schema]] = {
    "member.created": (
        1,
        "A member joined (sign-up, or created by an operator).",
        _object({"member_no": _STR, "tier": _STR}),
    ),
    "member.updated": (
        1,
        "An operator changed the member's profile: the fields' names, never their values.",
        _object({"fields": {"type": "array", "items": _STR}}),
    ),
    "member.suspended": (1, "An operator suspended the member.", _STATUS),
    "member.reactivated": (1, "An operator reactivated a suspended member.", _STATUS),
    "member.erased": (1, "The member's personal data was erased.", _STATUS),
    "points.earned": (1, "Points earned (a purchase, an activity, a check-in).", _ENTRY),
    "points.matured": (1, "Pending points became available.", _ENTRY),
    "points.spent": (1, "Points spent (a redemption, a draw entry).", _ENTRY),
    "points.held": (1, "Points reserved for a partner's order.", _HOLD),
    "points.captured": (1, "Held points taken for the order.", _ENTRY),
    "points.released": (1, "Held points given back (released, or the hold lapsed).", _HOLD),
    "points.reversed": (1, "Points given back or taken back (a refund, a cancellation).", _ENTRY),
    "points.adjusted": (1, "A staff correction, or points given back.", _ENTRY),
    "points.expired": (1, "Points expired.", _ENTRY),
    "points.cleared": (1, "The member's points were cleared (清零).", _ENTRY),
    "points.extended": (1, "An operator moved the expiry of the member's points.", _ENTRY),
    "points.expiring": (
        1,
        "Points will expire: once per expiry instant and lead time (30, 7, 1 days), with the "
        "expiry warning the member gets.",
        _object(
            {
                "points": _INT,
                "expires_at": _STR,
                "days_left": _INT,
                "lead_days": _INT,
                "notification_id": _STR,
            }
        ),
    ),
    "tier.changed": (
        1,
        "The member moved to another tier.",
        _object(
            {
                "from_tier": _STR,
                "to_tier": _STR,
                "reason": _STR,
                "qualifying_points": _INT,
                "change_seq": _INT,
            }
        ),
    ),
    "redemption.created": (1, "A member redeemed a reward.", _REDEMPTION),
    "redemption.cancelled": (1, "An operator cancelled a redemption.", _REDEMPTION),
    "redemption.paid": (
        1,
        "A points + cash redemption was paid: its held points were captured (`status`: "
        "completed, or pending for goods that ship).",
        _FULFILMENT,
    ),
    "redemption.refunded": (
        1,
        "Part or all of a points + cash redemption's money was refunded: `amount`, and "
        "`points_back` given back in proportion (a whole refund of one not shipped cancels it).",
        _object(
            {
                "redemption_id": _STR,
                "reward_id": _STR,
                "quantity": _INT,
                "points": _INT,
                "status": _STR,
                "amount": _STR,
                "points_back": _INT,
            },
            {"entry_id": _STR_OR_NULL, "voucher_partner_id": _STR_OR_NULL},
        ),
    ),
    "redemption.shipped": (
        1,
        "Goods redeemed were shipped (`carrier`, `tracking_number`).",
        _FULFILMENT,
    ),
    "redemption.fulfilled": (1, "Goods redeemed were delivered.", _FULFILMENT),
    "redemption.returned": (
        1,
        "Goods redeemed came back: the points and the stock were given back.",
        _FULFILMENT,
    ),
    "coupon.issued": (
        1,
        "A redemption issued a coupon or a partner's voucher (the code is not in the event).",
        _COUPON,
    ),
    "coupon.used": (1, "A partner's till used a coupon (`used_by_partner_id`).", _COUPON),
    "reward.low_stock": (
        1,
        "A redemption brought a reward's stock down to its low-stock mark (`low_stock_at`): time "
        "to add stock or the partner's next batch of codes. Not a member's event: `member_id` is "
        "null.",
        _object(
            {"reward_id": _STR, "name": _STR, "stock": _INT, "low_stock_at": _INT},
        ),
    ),
    "import.finished": (
        1,
        "An uploaded import (startImport) ended: done with its counts, or failed. Not a member's "
        "event: `member_id` is null.",
        _object(
            {
                "job_id": _STR,
                "status": {"enum": ["done", "failed"]},
                "dry_run": {"type": "boolean"},
            },
            {
                "counts": {"type": "object", "additionalProperties": _INT},
                "failure": _STR_OR_NULL,
            },
        ),
    ),
    "draw.entered": (1, "A member entered a draw.", _DRAW),
    "draw.won": (1, "A draw entry won a prize.", _DRAW_WON),
    "ping": (1, "A test an operator sent (not subscribable; always delivered).", _object({})),
}

SUBSCRIBABLE = frozenset(name for name in EVENT_TYPES if name != "ping")
