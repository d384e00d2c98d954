"""Admin flows in a real browser: the integration-health dashboard and its charts."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.integrations.models import InboundEvent
from apps.monitoring.rollups import inbound_rollup_refresh
from tests.browser.conftest import login, screenshot
from tests.factories import UserFactory
from tests.integrations.factories import IntegrationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_renders_its_charts_without_console_errors(live_server, page):
    crm = IntegrationFactory(slug="crm-browser")
    now = timezone.now()
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                integration=crm,
                webhook_id=f"b{i}",
                event_type="deposit.created",
                body_hash="x",
                received_at=now - dt.timedelta(minutes=i * 7),
                status="dead" if i % 17 == 0 else "processed",
                processed_at=now - dt.timedelta(minutes=i * 7) + dt.timedelta(milliseconds=40 + i),
            )
            for i in range(200)
        ]
    )
    inbound_rollup_refresh(since=now - dt.timedelta(hours=25))
    login(page, live_server, UserFactory(roles=["Integrations"]))
    page.goto(f"{live_server.url}/admin/health/?window=24h")
    page.wait_for_selector("body[data-charts-ready='1']")
    assert page.locator("canvas").count() == 4
    assert page.locator("tr[data-scope='crm-browser']").count() == 1
    assert page.locator("td.health-bad").count() >= 1  # dead letters waiting
    screenshot(page, "dashboard")
    assert page.console_errors == []
    page.click("tr[data-scope='crm-browser'] td.health-bad a >> nth=0")
    assert "/admin/integrations/" in page.url
