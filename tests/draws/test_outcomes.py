"""Draw outcomes follow the prizes' weights (chi-square over 10,000 draws from `secrets`)."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from app.draws import Draw, Prize, choose_prize, draw_pick

START = datetime(2026, 11, 1, tzinfo=UTC)
WEIGHTS = {"a": 1, "b": 2, "c": 3, "d": 4}
NO_PRIZE = 10


def _draw(**stock: int) -> Draw:
    prizes = [Prize(id=k, name=k, weight=w, stock=stock.get(k)) for k, w in WEIGHTS.items()]
    return Draw(
        _id="dr_1",
        name="Test",
        cost=10,
        starts_at=START,
        ends_at=START + timedelta(days=1),
        prizes=tuple(prizes),
        no_prize_weight=NO_PRIZE,
    )


def _p_value(counts: Counter[str | None], draw: Draw, n: int) -> float:
    """Chi-square goodness of fit; 4 degrees of freedom have the closed form e^(-x/2)(1 + x/2)."""
    total = sum(WEIGHTS.values()) + NO_PRIZE
    expected = {k: n * w / total for k, w in WEIGHTS.items()} | {None: n * NO_PRIZE / total}
    x = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    return math.exp(-x / 2) * (1 + x / 2)


def _outcomes(draw: Draw, rng: random.Random | None = None, n: int = 10_000) -> Counter[str | None]:
    picks = (choose_prize(draw, draw_pick() if rng is None else rng.random()) for _ in range(n))
    return Counter(prize.id if prize else None for prize in picks)


def test_outcomes_from_secrets_follow_the_weights() -> None:
    draw = _draw()
    assert _p_value(_outcomes(draw), draw, 10_000) > 1e-6


def test_the_check_catches_a_chooser_that_ignores_the_weights() -> None:
    """The same statistic on a uniform choice among the five outcomes fails by far."""
    draw = _draw()
    uniform = Counter({k: 2_000 for k in [*WEIGHTS, None]})
    assert _p_value(uniform, draw, 10_000) < 1e-100


def test_a_prize_out_of_stock_is_never_drawn() -> None:
    draw = _draw(d=0)
    counts = _outcomes(draw, random.Random(7), 2_000)
    assert counts["d"] == 0 and counts["a"] > 0
    assert (
        choose_prize(_draw(a=0, b=0, c=0, d=0).model_copy(update={"no_prize_weight": 0}), 0.5)
        is None
    )
