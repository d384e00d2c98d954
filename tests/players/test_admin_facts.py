"""The player-fact admin: view only, no N+1 in lists, restatements shown with their history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.players.facts import RevenueReport
from apps.players.services import revenue_report_record
from tests.factories import IdentifierMappingFactory, PlayerFactory, UserFactory
from tests.players.factories_facts import (
    ChargebackFactory,
    DepositFactory,
    PurchaseFactory,
    RevenueReportFactory,
    TradeFactory,
)

pytestmark = pytest.mark.django_db

FACT_FACTORIES = {
    "deposit": DepositFactory,
    "revenuereport": RevenueReportFactory,
    "trade": TradeFactory,
    "purchase": PurchaseFactory,
    "chargeback": ChargebackFactory,
}


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


@pytest.mark.parametrize("model_name", FACT_FACTORIES)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model_name
):
    FACT_FACTORIES[model_name].create_batch(3)
    url = reverse(f"admin:players_{model_name}_changelist")
    admin_client.get(url)  # warm caches (content types, session)

    FACT_FACTORIES[model_name].create_batch(20)
    with django_assert_max_num_queries(8):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 23


@pytest.mark.parametrize("model_name", FACT_FACTORIES)
def test_facts_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, model_name):
    fact = FACT_FACTORIES[model_name](source_event_id=77)
    change_url = reverse(f"admin:players_{model_name}_change", args=[fact.pk])

    view = admin_client.get(change_url)
    assert view.status_code == 200
    assert b'name="_save"' not in view.content  # read-only page

    assert admin_client.get(reverse(f"admin:players_{model_name}_add")).status_code == 403
    assert admin_client.post(change_url, {}).status_code == 403
    assert (
        admin_client.get(reverse(f"admin:players_{model_name}_delete", args=[fact.pk])).status_code
        == 403
    )
    assert type(fact).objects.filter(pk=fact.pk).exists()


def test_restated_report_page_shows_the_day_history(admin_client):
    player = PlayerFactory()
    at = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
    for report_id, winnings, offset in (("R-first", "900", 0), ("R-restated", "950", 6)):
        revenue_report_record(
            player=player,
            system="crm",
            report_id=report_id,
            date=at.date(),
            currency="EUR",
            stakes=Decimal("1000"),
            winnings=Decimal(winnings),
            occurred_at=at + timedelta(hours=offset),
            source_event_id=None,
        )
    old = RevenueReport.objects.get(report_id="R-first")

    response = admin_client.get(reverse("admin:players_revenuereport_change", args=[old.pk]))

    content = response.content.decode()
    assert "R-restated" in content and "current" in content and "superseded" in content
    assert content.index("R-restated") < content.index("R-first</a>")


def test_facts_are_found_by_a_players_external_id(admin_client):
    mapping = IdentifierMappingFactory(system="crm", external_id="C-777")
    DepositFactory(player=mapping.player, deposit_id="D-mine")
    DepositFactory(deposit_id="D-other")

    response = admin_client.get(reverse("admin:players_deposit_changelist"), {"q": "C-777"})

    assert [d.deposit_id for d in response.context["cl"].result_list] == ["D-mine"]
