"""Admin flows in a real browser: the health dashboard's charts, retention filters and export."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.integrations.models import InboundEvent
from apps.monitoring.rollups import inbound_rollup_refresh
from apps.players.models import Deposit, Player
from tests.browser.conftest import login, screenshot
from tests.factories import AffiliateFactory, PlayerFactory, UserFactory
from tests.integrations.factories import IntegrationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_renders_its_charts_without_console_errors(live_server, page):
    crm = IntegrationFactory(slug="crm-browser")
    now = timezone.now()
    InboundEvent.objects.bulk_create([
        InboundEvent(integration=crm, webhook_id=f"b{i}", event_type="deposit.created", body_hash="x",
                     received_at=now - dt.timedelta(minutes=i * 7), status="dead" if i % 17 == 0 else "processed",
                     processed_at=now - dt.timedelta(minutes=i * 7) + dt.timedelta(milliseconds=40 + i))
        for i in range(200)
    ])
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


def test_retention_filters_dormant_referred_players_and_exports_them(live_server, page):
    aff = AffiliateFactory(name="Dormant Media")
    dormant = PlayerFactory(affiliate=aff, attribution_status=Player.AttributionStatus.ATTRIBUTED)
    Deposit.objects.create(player=dormant, system="crm", deposit_id="D1", amount=Decimal("75"), currency="EUR",
                           occurred_at=timezone.now() - dt.timedelta(days=95))
    active = PlayerFactory(affiliate=aff, attribution_status=Player.AttributionStatus.ATTRIBUTED)
    Deposit.objects.create(player=active, system="crm", deposit_id="D2", amount=Decimal("10"), currency="EUR",
                           occurred_at=timezone.now() - dt.timedelta(days=1))
    login(page, live_server, UserFactory(roles=["Retention"]))
    page.goto(f"{live_server.url}/admin/monitoring/retentionplayer/")
    page.click("#changelist-filter a:has-text('Referred')")
    page.click("#changelist-filter a:has-text('90+ days')")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and str(dormant.pk) in rows.first.inner_text()
    screenshot(page, "retention-dormant-referred")
    page.click("a.export_link, a:has-text('Export')")
    page.select_option("select[name=format]", label="csv")
    with page.expect_download() as download:
        page.click("input[type=submit], button[type=submit]")
    content = open(download.value.path()).read()
    lines = [line for line in content.splitlines() if line]
    assert len(lines) == 2 and lines[1].startswith(f"{dormant.pk},")
    assert page.console_errors == []
