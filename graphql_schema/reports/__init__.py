"""The operators' reports over GraphQL: `reports { liability pointsFlow ... }` with their CSV."""

from graphql_schema.reports.queries import Reports, reports_field
from graphql_schema.reports.types import SCALARS

__all__ = ["SCALARS", "Reports", "reports_field"]
