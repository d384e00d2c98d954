"""Concurrent approvals on PostgreSQL: the row lock lets exactly one through."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts import services
from apps.payouts.models import Payout
from apps.payouts.services import PayoutTransitionRefused
from tests.factories import AffiliateFactory, UserFactory

from .factories import (
    GatewayEndpointFactory,
    PayoutMethodFactory,
    approved_statement,
    restore_roles,
)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_approvals_make_one_gateway_request():
    restore_roles()  # a transactional test before this one may have flushed the groups
    GatewayEndpointFactory()
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate)
    approved_statement(affiliate=affiliate, total=Decimal("300.00"))
    maker = UserFactory(username="maker", roles=["Finance"])
    checkers = [UserFactory(username=f"checker{i}", roles=["Finance"]) for i in range(20)]
    payout = services.payout_run_create().payouts.get()
    services.payout_submit_for_approval(payout=payout, acting_user=maker)

    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def approve(user):
        try:
            barrier.wait()
            services.payout_approve(payout=Payout(pk=payout.pk), acting_user=user)
            result = "approved"
        except PayoutTransitionRefused:
            result = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=approve, args=(user,)) for user in checkers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["approved"] + ["refused"] * 19
    assert (
        OutboundDelivery.objects.filter(topic="payout.request", subject=payout.reference).count()
        == 1
    )
    payout.refresh_from_db()
    assert payout.status == Payout.Status.APPROVED
    assert payout.submission_count == 1
