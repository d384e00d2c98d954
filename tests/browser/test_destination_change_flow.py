"""A Finance user changes an affiliate's Skrill e-mail: it becomes a destination change request,
which its requester cannot approve and a second Finance user approves after seeing the values
before and after."""

import json

import pytest

from apps.payouts import services
from apps.payouts.models import PayoutMethod, PayoutMethodChange
from tests.browser.conftest import login, messages, run_action, screenshot
from tests.factories import AffiliateFactory, UserFactory
from tests.payouts.factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_EMAIL = "odds-club-new@wallet.example"


def test_a_destination_change_is_requested_by_one_finance_user_and_approved_by_another(
    live_server, browser
):
    requester = UserFactory(username="finance-one", roles=["Finance"])
    approver = UserFactory(username="finance-two", roles=["Finance"])
    affiliate = AffiliateFactory(name="Odds Club")
    method = PayoutMethodFactory(affiliate=affiliate, details={"email": "odds-club@wallet.example"})
    GatewayEndpointFactory()
    approved_statement(affiliate=affiliate, total="100.00")
    paid = services.payout_run_create().payouts.get()  # paid to the old e-mail last month
    services.payout_submit_for_approval(payout=paid, acting_user=requester)
    services.payout_approve(payout=paid, acting_user=approver)
    services.payout_mark_completed(reference=paid.reference, gateway_reference="gw-1")

    # fin1 edits the method: only a request is recorded.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    login(page, live_server, requester)
    page.goto(f"{live_server.url}/admin/payouts/payoutmethod/{method.pk}/change/")
    page.fill("#id_details", json.dumps({"email": NEW_EMAIL}))
    with page.expect_navigation():
        page.click("input[name=_save]")
    change = PayoutMethodChange.objects.get()
    assert any(f"Destination change #{change.pk} recorded" in m for m in messages(page))
    assert NEW_EMAIL in page.content()  # the request's page shows before and after
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": "odds-club@wallet.example"}
    screenshot(page, "destination-change-requested")

    # fin1 cannot approve it.
    page.goto(f"{live_server.url}/admin/payouts/payoutmethodchange/")
    run_action(page, "approve_changes")
    with page.expect_navigation():
        page.click("input[type=submit][value='Approve 1 change']")
    assert any("another Finance user must approve it" in m for m in messages(page))
    assert PayoutMethodChange.objects.get().status == "pending"
    context.close()

    # fin2 reviews the values and approves.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server, approver)
    page.goto(f"{live_server.url}/admin/payouts/payoutmethodchange/")
    assert "Pending approval" in page.locator("#result_list tbody tr").first.inner_text()
    run_action(page, "approve_changes")
    table = page.locator("table.destination-change-values").inner_text()
    assert (
        "odds-club@wallet.example" in table
        and NEW_EMAIL in table
        and "finance-one" in page.content()
    )
    screenshot(page, "destination-change-approval")
    with page.expect_navigation():
        page.click("input[type=submit][value='Approve 1 change']")
    assert f"Destination change #{change.pk} approved and applied." in messages(page)
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": NEW_EMAIL}
    change.refresh_from_db()
    assert (change.status, change.requested_by, change.decided_by) == (
        "approved",
        requester,
        approver,
    )
    page.goto(
        f"{live_server.url}/admin/core/auditlog/?object_type=payouts.payoutmethod&object_id={method.pk}"
    )
    assert "payoutmethod.changed" in page.content() and "finance-two" in page.content()
    screenshot(page, "destination-change-audit-log")

    # The next payout pays the new e-mail; its approver sees it in full, with a warning.
    approved_statement(affiliate=affiliate, total="120.00")
    payout = services.payout_run_create().payouts.get()
    services.payout_submit_for_approval(payout=payout, acting_user=requester)
    page.goto(f"{live_server.url}/admin/payouts/payout/{payout.pk}/approve/")
    destination = page.locator("td.destination").inner_text()
    assert (
        NEW_EMAIL in destination
        and f"Differs from the last paid destination ({paid.reference}" in destination
    )
    screenshot(page, "payout-approval-destination-warning")
    assert errors == []
    context.close()
