"""Each role's first minutes on the demo data `make run` loads: the work waiting in its queues.

Every test loads the whole demo seed (~25-35 s on a busy 2-core machine): live_server tests
empty the database after each test, so the seed cannot be shared between them.
"""

import csv
import importlib
import io
import re
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.commissions.models import ClawbackCase
from apps.integrations.models import InboundEvent
from apps.payouts.models import Payout
from apps.retention.models import RetentionSegment
from tests.browser.conftest import login, messages, run_action, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"
DEMO_AFFILIATES = {
    "Casino Guru Media",
    "Slots Review Ltd",
    "FX Signals Pro",
    "Bonus Hunters Network",
    "Bonus Hunters DE",
    "Rogue Traffic",
}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
AMOUNT = re.compile(r"^-?\d+\.\d{2}$")


# Data migrations whose rows the seed uses (all idempotent): live_server tests empty every table
# after each test, and post_migrate brings back none of these (see conftest.staff_roles).
DATA_MIGRATIONS = [
    ("apps.commissions.migrations.0003_instrument_groups", "seed"),  # instrument groups and symbols
    ("apps.monitoring.migrations.0002_defaults", "forwards"),  # alert rules
    ("apps.monitoring.migrations.0007_source_alert_defaults", "forwards"),  # per-source alert rules
]


@pytest.fixture
def demo():
    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(django_apps, None)
    out = StringIO()
    call_command("demo_seed", staff_password=PASSWORD, stdout=out)
    assert "Demo data loaded" in out.getvalue()
    return get_user_model().objects


def test_finance_approves_the_waiting_payout_and_retries_the_failed_one(live_server, page, demo):
    pending = Payout.objects.get(status="pending_approval")
    failed = Payout.objects.get(status="failed")
    assert pending.prepared_by.username == "finance-demo-maker"

    login(page, live_server, demo.get(username="finance-demo-checker"), PASSWORD)
    page.goto(f"{live_server.url}/admin/payouts/pendingapprovalpayout/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and pending.affiliate.name in rows.first.inner_text()
    screenshot(page, "finance-queue")
    run_action(page, "approve_payouts")
    assert (
        page.locator("p:has-text('You are about to approve')")
        .inner_text()
        .startswith("You are about to approve 1 payout")
    )
    screenshot(page, "finance-approve-confirmation")
    with page.expect_navigation():
        page.click("input[type=submit][value='Approve 1 payout']")
    assert "1 payout(s) approved and sent to the gateway." in messages(page)
    pending.refresh_from_db()
    assert (pending.status, pending.approved_by.username) == ("approved", "finance-demo-checker")

    # The failed one waits in its queue with the gateway's reason; Finance retries it.
    page.goto(f"{live_server.url}/admin/payouts/failedpayout/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Beneficiary account closed" in rows.first.inner_text()
    screenshot(page, "finance-failed-queue")
    with page.expect_navigation():
        rows.first.locator("th a, td a").first.click()
    with page.expect_navigation():
        page.click("a.button:has-text('Retry (same reference)')")
    with page.expect_navigation():
        page.click("input[type=submit][value='Retry payout']")
    assert f"Retry: payout {failed.reference} done." in messages(page)
    failed.refresh_from_db()
    assert failed.status == "submitted" and failed.failure_reason == ""
    screenshot(page, "finance-failed-retried")
    assert page.console_errors == []


def test_retention_saves_a_segment_and_exports_it(live_server, page, demo):
    login(page, live_server, demo.get(username="retention-demo"), PASSWORD)
    page.goto(f"{live_server.url}/admin/retention/retentionplayer/")
    with page.expect_navigation():
        page.click("#changelist-filter a:has-text('Referred')")
    with page.expect_navigation():
        page.click("#changelist-filter a:has-text('30+ days')")
    assert "origin=referred" in page.url and "dormant_days=30" in page.url
    assert page.locator("#result_list tbody tr").count() > 5

    with page.expect_navigation():
        page.click("#save-segment")
    page.fill("#id_name", "Referred, no deposit for 30 days")
    page.fill("#id_description", "Win-back campaign: referred players gone quiet")
    with page.expect_navigation():
        page.click("input[name=_save]")
    segment = RetentionSegment.objects.get()
    assert "dormant_days=30" in segment.query and segment.created_by.username == "retention-demo"
    with page.expect_navigation():
        page.click(f"ul.messagelist a:has-text('{segment.name}')")
    rows = page.locator("#result_list tbody tr")
    shown = rows.count()
    assert shown > 5 and "dormant_days=30" in page.url
    screenshot(page, "retention-segment")

    with page.expect_navigation():
        page.click("a.export_link, .object-tools a:has-text('Export')")
    page.select_option("select[name=format]", label="csv")
    with page.expect_download() as download_info:
        page.click("form input[type=submit], form button[type=submit] >> nth=-1")
    table = list(
        csv.DictReader(
            io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8-sig"))
        )
    )
    assert 0 < len(table) <= shown  # self-excluded players are left out of exports
    columns = set(table[0])
    assert {
        "crm_id",
        "identifiers",
        "affiliate",
        "campaign",
        "registered_on",
        "first_deposit_on",
        "lifetime_deposits",
        "ngr",
        "currency",
    } <= columns
    for row in table:
        assert (
            re.match(r"^C-\d{6}$", row["crm_id"]) and f"crm:{row['crm_id']}" in row["identifiers"]
        )
        assert row["affiliate"] in DEMO_AFFILIATES and row["campaign"]
        assert ISO_DATE.match(row["registered_on"]) and ISO_DATE.match(row["first_deposit_on"])
        assert AMOUNT.match(row["lifetime_deposits"]) and AMOUNT.match(row["ngr"])
        assert row["currency"] in ("EUR", "USD")
    assert page.console_errors == []


def test_compliance_reviews_a_player_story_and_a_clawback_case(live_server, page, demo):
    case = ClawbackCase.objects.filter(status="open").order_by("pk").first()
    player = case.player
    login(page, live_server, demo.get(username="compliance-demo"), PASSWORD)
    page.goto(f"{live_server.url}/admin/players/player/{player.pk}/change/")
    compliance = page.locator("#story-compliance")
    assert compliance.count() == 1
    assert "KYC" in compliance.inner_text()
    clawbacks = page.locator("#story-clawbacks")
    assert case.chargeback_id in clawbacks.inner_text()
    screenshot(page, "player-story")

    page.goto(f"{live_server.url}/admin/commissions/clawbackcase/?status__exact=open")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == ClawbackCase.objects.filter(status="open").count() >= 1
    screenshot(page, "compliance-clawback-queue")
    page.goto(f"{live_server.url}/admin/commissions/clawbackcase/{case.pk}/change/")
    assert case.chargeback_id in page.content()
    assert (
        page.locator("input[name=_save]").count() == 0
    )  # Compliance sees cases; Finance decides them
    screenshot(page, "compliance-clawback-case")
    assert page.console_errors == []


def test_integrations_replays_the_dead_letter(live_server, page, demo):
    dead = InboundEvent.objects.get(status="dead")
    login(page, live_server, demo.get(username="integrations-demo"), PASSWORD)
    page.goto(f"{live_server.url}/admin/integrations/parkedevent/")
    assert page.locator("#result_list tbody tr").count() == 2
    screenshot(page, "integrations-parked")
    page.goto(f"{live_server.url}/admin/integrations/deadletterevent/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "payout.confirmed" in rows.first.inner_text()
    screenshot(page, "integrations-dead-letters")
    rows.first.locator("input.action-select").check()
    run_action(page, "replay_events", select_all=False)
    assert "Replayed 1 event(s); they are queued for processing." in messages(page)
    dead.refresh_from_db()
    assert dead.status == "received" and dead.attempts == 0
    page.goto(f"{live_server.url}/admin/health/?window=24h")
    screenshot(page, "integrations-health")
    assert page.console_errors == []


def test_compliance_works_the_risk_queue_from_the_demo_case(live_server, page, demo):
    from apps.risk.models import RiskCase

    case = RiskCase.objects.get(status="open")
    login(page, live_server, demo.get(username="compliance-demo"), PASSWORD)
    page.goto(f"{live_server.url}/admin/risk/riskcase/")
    first = page.locator("#result_list tbody tr").first
    assert case.affiliate.name in first.inner_text()  # live cases first
    screenshot(page, "risk-queue")

    page.goto(f"{live_server.url}/admin/risk/riskcase/{case.pk}/change/")
    body = page.locator("#content").inner_text()
    assert "Players share" in body or "players share" in body  # the duplicate-identity evidence
    assert "demo-ring-device-5e1c0a7f93b2" not in page.content()  # shared values are masked
    screenshot(page, "risk-case")

    page.click("#decide-escalate")
    assert "The case stays open, its holds stay" in page.content()
    page.fill("textarea[name=reason]", "Four players on one device: senior review of the link")
    page.click("input[type=submit]")
    page.wait_for_load_state()
    screenshot(page, "risk-case-escalated")
    assert "escalated" in " ".join(messages(page)).lower(), page.locator("#content").inner_text()
    case.refresh_from_db()
    assert case.status == "escalated" and case.decisions.get().reason.startswith("Four players")
    assert page.console_errors == []
