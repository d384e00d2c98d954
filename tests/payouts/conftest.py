"""Fixtures for payouts: Finance users, a gateway endpoint, a payout pending approval."""

from decimal import Decimal

import pytest

from apps.payouts import services
from tests.factories import AffiliateFactory, UserFactory

from .factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement


@pytest.fixture
def finance_maker(db):
    return UserFactory(username="finance-maker", roles=["Finance"])


@pytest.fixture
def finance_checker(db):
    return UserFactory(username="finance-checker", roles=["Finance"])


@pytest.fixture
def retention_user(db):
    return UserFactory(username="retention", roles=["Retention"])


@pytest.fixture
def gateway(db):
    return GatewayEndpointFactory()


@pytest.fixture
def affiliate(db):
    return AffiliateFactory()


@pytest.fixture
def method(affiliate):
    return PayoutMethodFactory(affiliate=affiliate)


@pytest.fixture
def draft_payout(affiliate, method, gateway):
    approved_statement(affiliate=affiliate, total=Decimal("120.00"))
    run = services.payout_run_create()
    return run.payouts.get()


@pytest.fixture
def pending_payout(draft_payout, finance_maker):
    return services.payout_submit_for_approval(payout=draft_payout, acting_user=finance_maker)


@pytest.fixture
def approved_payout(pending_payout, finance_checker):
    return services.payout_approve(payout=pending_payout, acting_user=finance_checker)
