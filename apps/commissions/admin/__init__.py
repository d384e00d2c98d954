"""Commissions in the admin: plans, the ledger (read-only, exportable), clawback review,
statements and the period close, one module per area. Importing the package registers every admin.

Every write goes through apps.commissions.services; ledger rows cannot be added, changed or
deleted here.
"""

from apps.commissions import story_panels  # noqa: F401  (the player page's ledger panels)
from apps.commissions.admin import clawbacks, ledger, plans, statements  # noqa: F401
