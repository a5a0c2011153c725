"""Rules engine benchmark: what conditions cost an earn.

    .venv/bin/python bench/rules.py [--purchases 20000] [--lines 5] [--rounds 6] [--smoke]

The rules engine (app/program/rules.py) is pure Python and runs in every purchase and every
previewEarn. This times `compute_earn` for the same `--lines`-line purchases under two programs
that give the same points: a plain category rule (×2 on the lines' category), and the same rule
with a five-part condition (channel, weekday, store, payment method, not a category) that holds,
so that every part is evaluated on every line. The two run interleaved in rounds (CPU time of this
process) and the ratio is printed: goal ≤ 1.10 (issue 24: a 5-condition rule costs at most 10 %
more than the plain rule). It checks both give the same points; a failed check ends it with a
non-zero status. `--smoke` runs a few thousand purchases (CI).

The engine's cost is a part of a purchase's: bench/partner.py times recordPurchase whole.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.program import MemberFacts, Program, Purchase, PurchaseLine, compute_earn

TIERS = [{"code": "member", "name": "Member", "threshold": 0}]
PLAIN = {"id": "double", "categories": ["food"], "multiplier": "2"}
CONDITION = {
    "all": [
        {"fact": "channel", "in": ["app", "mini_program"]},
        {"fact": "weekday", "in": [6, 7]},
        {"fact": "store", "in": ["s1", "s2", "s3"]},
        {"fact": "payment_method", "eq": "card"},
        {"not": {"fact": "category", "in": ["tobacco"]}},
    ]
}


def program(rule: dict[str, object]) -> Program:
    return Program.model_validate(
        {
            "name": "Bench",
            "currency": "pts",
            "timezone": "Asia/Shanghai",
            "tiers": TIERS,
            "earn": {"rules": [rule]},
        }
    )


def purchases(count: int, lines: int) -> list[Purchase]:
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    return [
        Purchase(
            tuple(
                PurchaseLine(f"L{k}", f"SKU{k}", "food", 1, Decimal(10 + n % 50 + k))
                for k in range(lines)
            ),
            saturday,
            "app",
            store="s2",
            payment_method="card",
        )
        for n in range(count)
    ]


def main(args: argparse.Namespace) -> None:
    plain = program(PLAIN)
    conditional = program({**PLAIN, "when": CONDITION})
    member = MemberFacts(tier="member")
    batch = purchases(args.purchases // args.rounds, args.lines)
    spent = {"plain": 0.0, "conditional": 0.0}
    for round_ in range(args.rounds):
        order = [("plain", plain), ("conditional", conditional)]
        for name, rules in order if round_ % 2 else order[::-1]:
            started = time.process_time()
            totals = [compute_earn(rules, bought, member).total for bought in batch]
            spent[name] += time.process_time() - started
            if name == "plain":
                expected = totals
            elif "expected" in locals() and totals != expected:
                sys.exit("the conditional rule gave other points than the plain one")
    done = len(batch) * args.rounds
    per = {name: seconds / done * 1e6 for name, seconds in spent.items()}
    ratio = spent["conditional"] / spent["plain"]
    print(
        f"compute_earn, {args.lines} lines: plain rule {per['plain']:.1f} µs, the same rule with a "
        f"5-part condition {per['conditional']:.1f} µs ({done} purchases each)"
    )
    print(f"conditional / plain: {ratio:.2f}x by CPU (goal <= 1.10)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--purchases", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--smoke", action="store_true", help="a few thousand purchases (CI)")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.purchases = 3000
    main(arguments)
