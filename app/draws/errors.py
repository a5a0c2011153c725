"""Refusals of running and entering draws: each says which rule, with the facts that explain it;
nothing changed. `field` names the request value at fault (snake_case), when one is."""

from __future__ import annotations


class DrawRefused(Exception):
    """A draw request breaks a rule of its own input (a length, a value the draw cannot take)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DrawInvalid(DrawRefused):
    """The draw as it would be breaks the model's rules; `field` is the model's own field name."""


class DrawNotFound(DrawRefused):
    """No such draw, or no such prize in it."""


class DrawClosed(DrawRefused):
    """The draw is not open now: before its start, after its end, or closed."""


class DrawKeyReused(DrawRefused):
    """The idempotency key created, or entered, another draw."""


class DailyLimitReached(DrawRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} entries a day", "draw_id")
        self.limit = limit


class DrawUnaffordable(DrawRefused):
    """The member has fewer points than an entry costs."""

    def __init__(self, available: int, required: int, message: str) -> None:
        super().__init__(message, "draw_id")
        self.available = available
        self.required = required


class PrizeOverLimit(DrawRefused):
    """The prize's points would take the member's account past its bound (app.bounds)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "draw_id")
