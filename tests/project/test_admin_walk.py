"""Every admin list and detail page, opened as each role and as a superuser, on data of every
kind: no server error, and no amount shown with more decimals than its currency has.

The data: the demo seed (affiliates, campaigns, links, clicks, players, KYC, exclusions), a payout
through approval, and a month of commission traffic through the real pipeline (CPA, RevShare, a
chargeback with its clawback case, a closed month)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse

from apps.commissions.models import Plan
from apps.commissions.services import statements_close
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import UserFactory
from tests.payouts.conftest import (  # noqa: F401 - fixtures
    affiliate,
    approved_payout,
    draft_payout,
    finance_checker,
    finance_maker,
    gateway,
    method,
    pending_payout,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROLES = ("Finance", "Retention", "Compliance", "Integrations")
T = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
# An amount with more decimals than any currency we show has (3), followed by a currency code:
# "24.47000000 USD" is what this guards against.
# An exchange rate ("1 EUR = 0.8612000000 GBP") is not an amount: its precision is the rate's.
TOO_PRECISE = re.compile(
    r"(?<!= )\b\d[\d,]*\.\d{4,}\s?(EUR|USD|GBP|JPY|CHF|CAD|AUD|SEK|BHD|USDT)\b"
)


@pytest.fixture
def world(approved_payout):  # noqa: F811
    call_command("demo_seed", verbosity=0)
    pipeline = Pipeline()
    hybrid = PlanAssignmentFactory(
        plan=PlanFactory(
            kind=Plan.Kind.HYBRID, cpa_amount=Decimal(200), revshare_percent=Decimal(30)
        )
    ).affiliate
    player = player_maker()(hybrid)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "123.456", T)
    pipeline.send(
        "crm",
        "revenue.reported",
        {
            "report_id": "R-1",
            "player_id": player.ref,
            "date": T.date(),
            "currency": "EUR",
            "stakes": "1000.123",
            "winnings": "500.456",
        },
        at=T,
    )
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-W", "player_id": player.ref, "amount": "50.5", "currency": "EUR"},
        at=T + dt.timedelta(days=1),
    )
    statements_close(period=dt.date(2026, 1, 1))


def _pages():
    """(admin URL name, model) for every registered model's list and its first row's page."""
    for model in admin.site._registry:
        yield f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist", model


def _walk(client) -> list[str]:
    problems = []
    for name, model in _pages():
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        response = client.get(url)
        pages = [(url, response)]
        if response.status_code == 200:
            obj = model._default_manager.order_by("pk").first()
            if obj is not None:
                change = reverse(
                    f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk]
                )
                pages.append((change, client.get(change)))
        for page_url, page in pages:
            if page.status_code >= 500:
                problems.append(f"{page_url}: {page.status_code}")
            elif page.status_code == 200:
                match = TOO_PRECISE.search(page.content.decode())
                if match:
                    problems.append(f"{page_url}: amount shown as {match.group(0)!r}")
    return problems


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_every_admin_page_opens_without_error_and_shows_money_as_money(client, world, role):
    user = UserFactory(is_superuser=True) if role == "superuser" else UserFactory(roles=[role])
    client.force_login(user)
    problems = _walk(client)
    assert problems == [], "\n".join(problems)
