"""Finance's admin: read-only ledger with totals and export, clawback review, statements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.commissions.models import ClawbackCase, CommissionEntry, Plan, Statement
from apps.commissions.services import Line, entry_book, statements_close
from apps.players.facts import Chargeback
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.factories import AffiliateFactory, UserFactory

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def finance_client(client):
    client.force_login(UserFactory(roles=["Finance"]))
    return client


def _book(affiliate, n, amount="10"):
    return entry_book(
        line=Line(
            kind="adjustment",
            affiliate=affiliate,
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=T,
            status="approved",
        ),
        idempotency_key=f"adm-{n}",
    )[0]


def test_ledger_changelist_shows_totals_and_cannot_edit(finance_client):
    affiliate = AffiliateFactory()
    entry = _book(affiliate, 1, "10.5")
    _book(affiliate, 2, "4.5")
    url = reverse("admin:commissions_commissionentry_changelist")
    response = finance_client.get(url, {"kind__exact": "adjustment"})
    assert response.status_code == 200
    assert b"Totals of the filtered lines" in response.content
    assert b"approved: 15.00 EUR (2 lines)" in response.content  # money reads as money
    assert finance_client.get(reverse("admin:commissions_commissionentry_add")).status_code == 403
    detail = finance_client.post(
        reverse("admin:commissions_commissionentry_change", args=[entry.pk]), {"amount": "99"}
    )
    assert detail.status_code == 403
    entry.refresh_from_db()
    assert entry.amount == Decimal("10.5")


def test_ledger_export_csv(finance_client):
    _book(AffiliateFactory(name="Exported Ltd"), 1)
    response = finance_client.post(
        reverse("admin:commissions_commissionentry_export"),
        {
            "format": "0",
            "export_items": [],
            **{
                f"commissionentryresource_{f}": "on"
                for f in ("id", "kind", "status", "affiliate", "amount", "currency")
            },
        },
    )
    assert response.status_code == 200
    assert b"Exported Ltd" in response.content


def test_clawback_bulk_approve_asks_for_a_reason(finance_client, pipeline, make_player):
    assignment = PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    )
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB", "player_id": player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=3),
    )
    case = ClawbackCase.objects.get()
    url = reverse("admin:commissions_clawbackcase_changelist")
    form = finance_client.post(url, {"action": "approve_cases", "_selected_action": [case.pk]})
    assert form.status_code == 200 and b"reason" in form.content
    done = finance_client.post(
        url,
        {
            "action": "approve_cases",
            "_selected_action": [case.pk],
            "apply": "1",
            "reason": "Confirmed chargeback fraud",
        },
    )
    assert done.status_code == 302
    case.refresh_from_db()
    assert case.status == "approved"
    assert CommissionEntry.objects.get(kind="clawback").amount == Decimal(-200)


def test_statement_page_groups_lines_by_kind_with_drill_down(finance_client):
    affiliate = AffiliateFactory()
    _book(affiliate, 1)
    statements_close(period=dt.date(2026, 1, 1))
    statement = Statement.objects.get()
    response = finance_client.get(
        reverse("admin:commissions_statement_change", args=[statement.pk])
    )
    assert response.status_code == 200
    assert b"Manual adjustment" in response.content and b"ledger rows" in response.content


def test_a_case_is_decided_from_its_own_page_after_seeing_what_will_be_booked(
    finance_client, pipeline, make_player
):
    assignment = PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    )
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-5", "player_id": player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=3),
    )
    case = ClawbackCase.objects.get()
    page = finance_client.get(reverse("admin:commissions_clawbackcase_change", args=[case.pk]))
    assert b'id="decide-approve"' in page.content and b'id="decide-dismiss"' in page.content
    # The case links the chargeback it is about, the event that reported it and the line it
    # would claw back, with the proposed amount as money.
    html = page.content.decode()
    chargeback = Chargeback.objects.get(chargeback_id="CB-5")
    assert reverse("admin:players_chargeback_change", args=[chargeback.pk]) in html
    event_url = reverse("admin:integrations_inboundevent_change", args=[case.chargeback_event_id])
    assert event_url in html
    cpa = CommissionEntry.objects.get(kind="cpa")
    assert reverse("admin:commissions_commissionentry_change", args=[cpa.pk]) in html
    assert "-200.00 EUR" in html
    decide = reverse("admin:commissions_clawbackcase_decide", args=[case.pk, "dismiss"])
    confirm = finance_client.get(decide)
    assert b"Dismissing books nothing" in confirm.content and b"-200.00 EUR" in confirm.content
    assert ClawbackCase.objects.get().status == "open"  # nothing happened yet
    done = finance_client.post(decide, {"apply": "1", "reason": "Chargeback reversed by the PSP"})
    assert done.status_code == 302
    case.refresh_from_db()
    assert (
        case.status == "dismissed" and not CommissionEntry.objects.filter(kind="clawback").exists()
    )
    # A decided case offers no decision any more.
    page = finance_client.get(reverse("admin:commissions_clawbackcase_change", args=[case.pk]))
    assert b'id="decide-approve"' not in page.content


def test_compliance_sees_a_case_but_cannot_decide_it(client, pipeline, make_player):
    assignment = PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    )
    player = make_player(assignment.affiliate)
    pipeline.deposit(player.ref, "100", T)
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-6", "player_id": player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=3),
    )
    case = ClawbackCase.objects.get()
    client.force_login(UserFactory(roles=["Compliance"]))
    page = client.get(reverse("admin:commissions_clawbackcase_change", args=[case.pk]))
    assert page.status_code == 200 and b'id="decide-approve"' not in page.content
    refused = client.post(
        reverse("admin:commissions_clawbackcase_decide", args=[case.pk, "approve"]),
        {"apply": "1", "reason": "x"},
    )
    assert refused.status_code == 403 and b"change permission on clawback cases" in refused.content
    assert ClawbackCase.objects.get().status == "open"


# --- plan versions in the admin -------------------------------------------------------------------


def _plan_form(plan, **changes):
    from apps.commissions.services import PLAN_TERM_FIELDS

    data = {
        "name": plan.name,
        "tiers-TOTAL_FORMS": "0",
        "tiers-INITIAL_FORMS": "0",
        "lot_rates-TOTAL_FORMS": "0",
        "lot_rates-INITIAL_FORMS": "0",
    }
    for name in PLAN_TERM_FIELDS:
        value = getattr(plan, name)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = str(value)
    data.update(changes)
    return data


def test_saving_an_accrued_plan_creates_a_version_and_leaves_it_unchanged(admin_client):
    plan = PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    affiliate = AffiliateFactory()
    entry_book(
        line=Line(
            kind="cpa",
            affiliate=affiliate,
            plan=plan,
            amount=Decimal(200),
            currency="EUR",
            occurred_at=T,
            status="pending",
        ),
        idempotency_key="accrued-1",
    )
    url = reverse("admin:commissions_plan_change", args=[plan.pk])
    page = admin_client.get(url)
    assert b"Versions and what each applied to" in page.content
    refused = admin_client.post(url, _plan_form(plan, cpa_amount="250"), follow=True)
    assert b"give the date the new version takes effect" in refused.content
    admin_client.post(
        url, _plan_form(plan, cpa_amount="250", new_version_from="2026-02-01"), follow=True
    )
    plan.refresh_from_db()
    assert plan.cpa_amount == Decimal(200)  # version 1 is never edited
    version = Plan.objects.get(family=plan)
    assert (version.version, version.effective_from, version.cpa_amount) == (
        2,
        dt.date(2026, 2, 1),
        Decimal(250),
    )
    assert b"v2" in admin_client.get(url).content


def test_plan_that_never_accrued_is_edited_in_place(admin_client):
    plan = PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    admin_client.post(
        reverse("admin:commissions_plan_change", args=[plan.pk]), _plan_form(plan, cpa_amount="210")
    )
    plan.refresh_from_db()
    assert plan.cpa_amount == Decimal(210)
    assert not Plan.objects.filter(family=plan).exists()
