"""The partner API's services: registered partners, purchases and refunds, paying with points.

Partners (shops, tills, airlines) post what members bought and returned; every point moves through
app.ledger. A partner sees only what it posted: orders, refunds and holds are keyed by partner.
"""
