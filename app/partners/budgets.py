"""Campaign budgets: what is left of each budgeted campaign, spent atomically inside the purchase.

One counter document per campaign in `campaign_budgets` ({_id: campaign id, spent}). A purchase
reads the counters of the campaigns that would give it points (one command), lets the rules
engine cut them to what is left, and spends with one conditional update per campaign inside the
same transaction: the update adds only while spent + points stays within the budget. Two tills
racing for a campaign's last points both write its counter, so snapshot isolation aborts one
with a write conflict; the runner reruns it from the start, it reads what is left now and
gets nothing from the campaign. If a counter ever moved under a purchase anyway, the update adds
nothing and BudgetMoved (a transient error) reruns the purchase the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from app.db import Mongo
from app.program import Program


class BudgetMoved(PyMongoError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(
            f"campaign {campaign_id}'s budget moved during the purchase",
            error_labels=["TransientTransactionError"],
        )


def budgeted(program: Program, campaign_ids: Iterable[str]) -> dict[str, int]:
    """The budgets of these campaigns that have one."""
    budgets = {c.id: c.budget for c in program.campaigns if c.budget is not None}
    return {cid: budgets[cid] for cid in campaign_ids if cid in budgets}


async def remaining(
    mongo: Mongo, session: AsyncClientSession | None, budgets: Mapping[str, int]
) -> dict[str, int]:
    """What is left of each campaign's budget (one read; none when there is nothing to read)."""
    if not budgets:
        return {}
    spent = {
        doc["_id"]: int(doc.get("spent", 0))
        async for doc in mongo["campaign_budgets"].find(
            {"_id": {"$in": sorted(budgets)}}, session=session
        )
    }
    return {cid: max(budget - spent.get(cid, 0), 0) for cid, budget in budgets.items()}


async def spend(
    mongo: Mongo,
    session: AsyncClientSession,
    program: Program,
    given: Mapping[str, int],
) -> None:
    """Add what each budgeted campaign gave to its counter, never past its budget."""
    budgets = budgeted(program, given)
    for cid, points in sorted(given.items()):
        if points <= 0 or cid not in budgets:
            continue
        spent = {"$ifNull": ["$spent", 0]}
        after = {"$add": [spent, points]}
        kept = {"$cond": [{"$lte": [after, budgets[cid]]}, after, spent]}
        before = await mongo["campaign_budgets"].find_one_and_update(
            {"_id": cid}, [{"$set": {"spent": kept}}], upsert=True, session=session
        )
        if int((before or {}).get("spent", 0)) + points > budgets[cid]:
            raise BudgetMoved(cid)
