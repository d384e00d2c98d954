"""Retention filters dormant referred players in the admin and exports them (CSV, minimised)."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from apps.players.models import Player
from tests.browser.conftest import login, screenshot
from tests.factories import AffiliateFactory, KycRecordFactory, PlayerFactory, UserFactory
from tests.players.factories_facts import DepositFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PERSONAL = {
    "email",
    "name",
    "first_name",
    "last_name",
    "phone",
    "address",
    "ip",
    "sub1",
    "attribution_note",
}


def deposit(player, days_ago, amount):
    DepositFactory(
        player=player,
        amount=Decimal(amount),
        occurred_at=timezone.now() - dt.timedelta(days=days_ago),
    )


def test_retention_filters_dormant_referred_players_and_exports_them(live_server, page):
    aff = AffiliateFactory(name="Dormant Media")
    referred = {"affiliate": aff, "attribution_status": Player.AttributionStatus.ATTRIBUTED}
    dormant = PlayerFactory(**referred, sub1="jane.doe@example.com")
    deposit(dormant, 120, "75")
    deposit(dormant, 95, "1200")
    KycRecordFactory(player=dormant, status="passed")
    active = PlayerFactory(**referred)
    deposit(active, 1, "10")
    organic_dormant = PlayerFactory()
    deposit(organic_dormant, 100, "500")

    login(page, live_server, UserFactory(username="retention-browser", roles=["Retention"]))
    page.goto(f"{live_server.url}/admin/retention/retentionplayer/")
    assert page.locator("#result_list tbody tr").count() == 3
    with page.expect_navigation():
        page.click("#changelist-filter a:has-text('Referred')")
    with page.expect_navigation():
        page.click("#changelist-filter a:has-text('90+ days')")
    assert "origin=referred" in page.url and "dormant_days=90" in page.url
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert str(dormant.pk) in row and "Dormant Media" in row and "1,275.00 EUR" in row
    screenshot(page, "retention-dormant-referred")

    # The export keeps the changelist's filters; import-export 4 posts the export form.
    with page.expect_navigation():
        page.click("a.export_link, .object-tools a:has-text('Export')")
    assert "origin=referred" in page.url
    page.select_option("select[name=format]", label="csv")
    screenshot(page, "retention-export-form")
    with page.expect_download() as download_info:
        page.click("form input[type=submit], form button[type=submit] >> nth=-1")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert [r["player_id"] for r in table] == [str(dormant.pk)]
    exported = table[0]
    assert exported["affiliate"] == "Dormant Media" and exported["kyc_status"] == "passed"
    assert Decimal(exported["lifetime_deposits"]) == Decimal("1275")
    assert not PERSONAL & set(exported), sorted(exported)
    assert "jane.doe" not in Path(download.path()).read_text()
    assert page.console_errors == []
