"""The lists each role works in fit a 1440 px screen: no horizontal scroll of the page or of the
results table (issue 15 §5). Rows carry long, realistic values so a column that grows is seen."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.integrations.models import InboundEvent
from apps.monitoring.rollups import inbound_rollup_refresh
from apps.payouts import services as payouts
from tests.browser.conftest import login, screenshot
from tests.factories import AffiliateFactory, PlayerFactory, UserFactory
from tests.integrations.factories import IntegrationFactory, ReconciliationRunFactory
from tests.payouts.factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    ("events", "/admin/integrations/inboundevent/"),
    ("dead-letters", "/admin/integrations/deadletterevent/"),
    ("reconciliation-runs", "/admin/integrations/reconciliationrun/"),
    ("retention-players", "/admin/retention/retentionplayer/"),
    ("players", "/admin/players/player/"),
    ("payouts", "/admin/payouts/payout/"),
    ("ledger", "/admin/commissions/commissionentry/"),
    ("statements", "/admin/commissions/statement/"),
    ("audit-log", "/admin/core/auditlog/"),
    ("health", "/admin/health/?window=24h"),
]


@pytest.fixture
def busy_back_office():
    crm = IntegrationFactory(slug="crm-production-eu-west-1")
    now = timezone.now()
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                integration=crm,
                webhook_id=f"msg_2Lx9kQ7vT3pZ8wN4yR6sE1uB{i:04d}",
                event_type="deposit.created",
                body_hash="x",
                received_at=now - dt.timedelta(minutes=i),
                status="dead" if i % 3 else "processed",
                last_error="Player C-1000234 not found in crm mapping; parked for 24 h then "
                "dead-lettered" * 2,
            )
            for i in range(30)
        ]
    )
    inbound_rollup_refresh(since=now - dt.timedelta(hours=25))
    ReconciliationRunFactory(integration=crm)
    PlayerFactory.create_batch(5, brand="spinpalace-international", country="DE")
    GatewayEndpointFactory()
    maker = UserFactory(roles=["Finance"])
    for name in ("Casino Guru Media International Ltd", "Bonus Hunters Network Deutschland GmbH"):
        affiliate = AffiliateFactory(name=name)
        PayoutMethodFactory(affiliate=affiliate)
        approved_statement(affiliate=affiliate, total=Decimal("123456.78"))
    for payout in payouts.payout_run_create().payouts.all():
        payouts.payout_submit_for_approval(payout=payout, acting_user=maker)


def test_the_working_lists_fit_a_1440_px_screen(live_server, browser, busy_back_office):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    login(page, live_server, UserFactory(is_superuser=True, is_staff=True))
    too_wide = {}
    for name, path in PAGES:
        page.goto(f"{live_server.url}{path}")
        widths = page.evaluate("""() => {
            const results = document.querySelector('#changelist .results');
            return {page: document.documentElement.scrollWidth, view: window.innerWidth,
                    results: results ? results.scrollWidth - results.clientWidth : 0};
        }""")
        screenshot(page, f"list-{name}")
        if widths["page"] > widths["view"] or widths["results"] > 0:
            too_wide[name] = widths
    context.close()
    assert too_wide == {}
