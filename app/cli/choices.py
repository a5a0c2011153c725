"""The parser's choices that are the domain's values, written here so building the parser imports
no domain package (tests/test_cli_startup.py checks each still equals its source)."""

from __future__ import annotations

# app.auth.PrincipalKind's values: who a token speaks for.
PRINCIPAL_KINDS = ("member", "partner", "admin")
# app.partners.PARTNER_SCOPES: what a partner may be granted.
PARTNER_SCOPES = frozenset(
    {"points:earn", "points:redeem", "points:read", "activities:write", "fulfilment:write"}
)
# app.reports.Period's values: the issuance report's rows.
REPORT_PERIODS = ("day", "week", "month")
