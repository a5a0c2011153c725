"""What the member app uses: signing in (sessions), the member and their profile (members), their
points history (ledger), the catalog and redeeming from it (rewards, redeem), draws, check-in
(engagement), tiers, notifications with the live subscriptions, the program's public facts
(program), and `node` (nodes: the caller's own objects only).

A module stays whole with its area even where another audience has a field in it: operators'
`member(id)` in members.py and their createDraw, updateDraw, closeDraw and allDraws in draws.py;
partners' recordActivity in engagement.py; the Subscription root in notifications.py names the
operators' warningsIssuedToday (operator/ops_live.py). ledger.py's LedgerEntry is the member's
entry that partner and operator payloads return too.
"""
