"""Finance admin: payout methods, FX rates, payout runs, all payouts, the approval queue (bulk
approve with a confirmation page), the failed-payout queue, holds and manual adjustments, one
module per area. Importing the package registers every admin.

Every button and action calls the same service the rest of the system uses; refused transitions
come back as clear messages.
"""

from apps.payouts import story_panels  # noqa: F401  (the affiliate page's payouts)
from apps.payouts.admin import adjustments, holds, methods, payouts, queues, runs  # noqa: F401
