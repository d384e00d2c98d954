"""Second-factor tests run with the product's default rule ("approvers"); the rest of the suite
runs with it off (affiliatehub/settings/test.py says why)."""

import pytest

# The payout fixtures (Finance maker and checker, a payout pending approval), shared as they are.
from tests.payouts.conftest import (  # noqa: F401
    affiliate,
    draft_payout,
    finance_checker,
    finance_maker,
    gateway,
    method,
    pending_payout,
    retention_user,
)


@pytest.fixture
def otp_required(settings):
    settings.AFFILIATEHUB_OTP_REQUIRED_FOR = "approvers"
    settings.AFFILIATEHUB_OTP_EXEMPT_USERNAMES = []
    return settings
