"""Finance decides a clawback case: approve with a reason on the intermediate form, and the
negative ledger lines are booked."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import ClawbackCase, CommissionEntry, Plan
from apps.commissions.services import statements_close
from tests.browser.conftest import login, messages, run_action, screenshot
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
T = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)


def test_finance_approves_a_clawback_case_with_a_reason(live_server, page):
    # A CPA earned in January and paid into its statement, then the qualifying deposit charged back.
    assignment = PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    )
    player = player_maker()(assignment.affiliate)
    pipeline = Pipeline()
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-77", "player_id": player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=3),
    )
    case = ClawbackCase.objects.get()
    assert case.status == "open" and not CommissionEntry.objects.filter(kind="clawback").exists()

    finance = UserFactory(username="finance-browser", roles=["Finance"])
    login(page, live_server, finance)
    page.goto(f"{live_server.url}/admin/commissions/clawbackcase/?status__exact=open")
    assert page.locator("#result_list tbody tr").count() == 1
    run_action(page, "approve_cases")
    # The confirmation names the case, says what will be booked, and will not decide without a
    # reason.
    assert page.locator("textarea[name=reason]").count() == 1
    assert f"#{player.pk}" in page.content()
    assert "Approve 1 clawback case(s)?" in page.content()
    assert "In all: -200.00 EUR" in page.locator("#decision-total").inner_text()
    page.fill("textarea[name=reason]", "Chargeback confirmed as friendly fraud by the PSP")
    screenshot(page, "clawback-reason-form")
    with page.expect_navigation():
        page.click("input[type=submit][value='Approve and record the reason']")
    assert "Approved 1 clawback case(s)." in messages(page)

    case.refresh_from_db()
    assert (case.status, case.decided_by, case.decision_reason) == (
        "approved",
        finance,
        "Chargeback confirmed as friendly fraud by the PSP",
    )
    lines = list(CommissionEntry.objects.filter(kind="clawback"))
    assert [(line.amount, line.currency, line.affiliate_id) for line in lines] == [
        (Decimal(-200), "EUR", assignment.affiliate_id)
    ]
    assert all(line.amount < 0 for line in lines)

    # The booked line is in the ledger Finance reads.
    page.goto(f"{live_server.url}/admin/commissions/commissionentry/?kind__exact=clawback")
    assert page.locator("#result_list tbody tr").count() == 1
    assert "-200" in page.locator("#result_list").inner_text()
    screenshot(page, "clawback-booked-ledger")
    assert page.console_errors == []
