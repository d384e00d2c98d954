"""Health page and /metrics show cases opened, held amounts and decisions (issue 17 §7)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.risk import services
from apps.risk.models import RiskCase
from apps.risk.selectors import risk_figures
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_figures_count_cases_held_amounts_and_decisions(ring, django_assert_num_queries):
    with django_assert_num_queries(3):
        figures = risk_figures()
    assert figures["cases_live"] == figures["cases_opened_24h"] == 1
    assert figures["held"] == {"EUR": 600}
    case = RiskCase.objects.get()
    services.risk_case_escalate(case=case, acting_user=UserFactory(roles=["Finance"]), reason="x")
    services.risk_case_clear(case=case, acting_user=UserFactory(roles=["Finance"]), reason="y")
    figures = risk_figures()
    assert figures["cases_live"] == 0 and figures["held"] == {}
    assert figures["decisions_24h"] == {"escalate": 1, "clear": 1, "confirm": 0}


def test_metrics_and_health_page_show_the_risk_queue(client, ring):
    body = client.get("/metrics").content.decode()
    assert "affiliatehub_risk_cases_opened_total 1.0" in body
    assert "affiliatehub_risk_cases_open 1.0" in body
    assert 'affiliatehub_risk_held_amount{currency="EUR"} 600.0' in body
    assert 'affiliatehub_risk_decisions_total{action="confirm"} 0.0' in body
    client.force_login(UserFactory(roles=["Integrations"]))
    page = client.get(reverse("monitoring-dashboard")).content.decode()
    assert 'id="risk"' in page and "Open cases: 1" in page and "600.00 EUR" in page
