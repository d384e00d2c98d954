"""Finance approves payouts from the pending queue (confirmation page with count and totals),
then retries one the gateway failed, from the failed-payout queue."""

from decimal import Decimal

import pytest

from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts import services
from apps.payouts.models import Payout
from tests.browser.conftest import login, messages, run_action, screenshot
from tests.factories import AffiliateFactory, UserFactory
from tests.payouts.factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_finance_approves_payouts_and_retries_a_failed_one(live_server, page):
    GatewayEndpointFactory()
    maker = UserFactory(username="finance-maker", roles=["Finance"])
    checker = UserFactory(username="finance-checker", roles=["Finance"])
    for name, total in (("Spin Reviews", "100.00"), ("Odds Club", "250.50")):
        affiliate = AffiliateFactory(name=name)
        PayoutMethodFactory(affiliate=affiliate)
        approved_statement(affiliate=affiliate, total=total)
    for payout in services.payout_run_create().payouts.order_by("pk"):
        services.payout_submit_for_approval(payout=payout, acting_user=maker)

    # Maker-checker: a second Finance user approves.
    login(page, live_server, checker)
    page.goto(f"{live_server.url}/admin/payouts/pendingapprovalpayout/")
    assert page.locator("#result_list tbody tr").count() == 2
    assert (
        "350.5"
        in page.locator("caption:has-text('Pending approval: totals') >> xpath=..").inner_text()
    )
    run_action(page, "approve_payouts")
    assert (
        page.locator("p:has-text('You are about to approve')")
        .inner_text()
        .startswith("You are about to approve 2 payouts")
    )
    assert "350.5" in page.content() and "Odds Club" in page.content()
    assert not OutboundDelivery.objects.exists()  # nothing sent before the confirmation
    screenshot(page, "payouts-approve-confirmation")
    with page.expect_navigation():
        page.click("input[type=submit][value='Approve 2 payouts']")
    assert "2 payout(s) approved and sent to the gateway." in messages(page)
    assert set(Payout.objects.values_list("status", "approved_by__username")) == {
        ("approved", "finance-checker")
    }
    assert OutboundDelivery.objects.filter(topic="payout.request").count() == 2

    # The gateway fails one; it lands in the failed queue with the reason, and Finance retries it.
    failed = Payout.objects.get(affiliate__name="Odds Club")
    services.payout_mark_failed(
        reference=failed.reference,
        reason_code="account_closed",
        message="Beneficiary wallet closed",
    )
    page.goto(f"{live_server.url}/admin/payouts/failedpayout/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Beneficiary wallet closed" in rows.first.inner_text()
    screenshot(page, "payouts-failed-queue")
    with page.expect_navigation():
        rows.first.locator(
            "th a, td a"
        ).first.click()  # the queue's rows open the payout's own page
    with page.expect_navigation():
        page.click("a.button:has-text('Retry (same reference)')")
    assert failed.reference in page.content()
    with page.expect_navigation():
        page.click("input[type=submit][value='Retry payout']")
    assert f"Retry: payout {failed.reference} done." in messages(page)

    failed.refresh_from_db()
    assert failed.status == "submitted" and failed.failure_reason == ""
    assert OutboundDelivery.objects.filter(topic="payout.request").count() == 3
    sends = OutboundDelivery.objects.filter(topic="payout.request", subject=failed.reference)
    assert failed.submission_count == 2 and sends.count() == 2
    assert {d.headers["Idempotency-Key"] for d in sends} == {
        failed.reference
    }  # the gateway never pays twice
    assert Payout.objects.get(affiliate__name="Spin Reviews").amount == Decimal("100.00")
    assert page.locator("a.button:has-text('Retry')").count() == 0
    screenshot(page, "payouts-retried")
    page.goto(f"{live_server.url}/admin/payouts/failedpayout/")
    assert page.locator("#result_list tbody tr").count() == 0
    assert page.console_errors == []
