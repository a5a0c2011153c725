"""The operators' reports over GraphQL: `reports { liability pointsFlow ... }` with their CSV."""

from graphql_schema.operator.reports.queries import Reports, reports_field

__all__ = ["Reports", "reports_field"]
