"""Points draws (积分抽奖): operators set them up, members spend points on entries.

- A draw costs points per entry, runs in a window, has prizes with weights and stock (a prize may
  give points back as its value), a weight for "no prize", and a per-member daily limit counted in
  the program's time zone.
- An entry is one transaction through the ledger's unit of work: the daily allowance claimed, the
  points spent, the prize chosen by `secrets` among the prizes still in stock, its stock taken
  (conditionally: of two entries racing for the last unit only one commits, the other is rerun
  against the new stock), the outcome recorded on the ledger entry and in `draw_entries`. A replay
  of the member's key returns the first outcome.
"""

from app.draws.errors import (
    DailyLimitReached,
    DrawClosed,
    DrawInvalid,
    DrawKeyReused,
    DrawNotFound,
    DrawRefused,
    DrawUnaffordable,
    PrizeOverLimit,
)
from app.draws.models import Draw, DrawEntry, Prize
from app.draws.service import (
    choose_prize,
    close_draw,
    create_draw,
    draw_pick,
    enter_draw,
    list_draws,
    page_draws,
    page_entries,
    update_draw,
)

__all__ = [
    "DailyLimitReached",
    "Draw",
    "DrawClosed",
    "DrawEntry",
    "DrawInvalid",
    "DrawKeyReused",
    "DrawNotFound",
    "DrawRefused",
    "DrawUnaffordable",
    "Prize",
    "PrizeOverLimit",
    "choose_prize",
    "close_draw",
    "create_draw",
    "draw_pick",
    "enter_draw",
    "list_draws",
    "page_draws",
    "page_entries",
    "update_draw",
]
