"""What the operator console uses, with admin tokens and their scopes: signing in by a console link
(console_link), the program's configuration (admin_program), the audit log, the catalog and its
redemptions (catalog_admin), members (members_admin), points corrections and bulk jobs
(points_admin), imports (import_admin), live numbers (ops_live), the reports (reports/) and the
brand's webhook endpoints (webhooks_admin).

catalog_admin.py also holds useCoupon, the partners' mutation on the redemptions it manages.
"""
