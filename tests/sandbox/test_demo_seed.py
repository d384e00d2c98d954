import time
from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count

from apps.affiliates.models import Affiliate, Click, Creative, TrackingLink
from apps.commissions.models import (
    ClawbackCase,
    CommissionEntry,
    CommissionHold,
    PeriodClose,
    Plan,
    PlanAssignment,
    PlanTier,
    Statement,
)
from apps.compliance.models import BrandLicence, KycRecord, SelfExclusion
from apps.core.models import AuditLog
from apps.integrations.models import InboundEvent, ReconciliationRun
from apps.mappings.models import IdentifierMapping
from apps.monitoring.models import Alert
from apps.payouts.models import ManualAdjustment, Payout, PayoutHold, PayoutMethodChange
from apps.players.facts import Chargeback, Deposit, RevenueReport, Trade
from apps.players.models import Player
from apps.risk.models import RiskCase
from apps.sandbox.demo_staff import DEMO_STAFF
from apps.sandbox.gateway_models import SandboxGatewayPayout

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out, **options)
    return out.getvalue()


def test_demo_seed_loads_a_complete_data_set_quickly():
    started = time.monotonic()
    output = seed()
    # ~25 s on the 2-core machine shared by four checkouts (~1,300 events through the inbound
    # pipeline, one by one); the bound leaves room for a busy CI box without hiding a regression
    # to per-row commits or N+1 loading (those take minutes).
    assert time.monotonic() - started < 90
    assert "Demo data loaded" in output
    assert (
        "finance-demo-maker, finance-demo-checker, retention-demo, compliance-demo, "
        "integrations-demo" in output
    )

    assert Affiliate.objects.count() == 6
    assert Affiliate.objects.filter(parent__isnull=False).count() == 1
    assert Affiliate.objects.filter(status="suspended").count() == 1
    statuses = dict(Creative.objects.values_list("status").annotate(n=Count("id")))
    assert statuses["approved"] >= 8 and statuses["pending"] == 2 and statuses["rejected"] == 1
    assert TrackingLink.objects.count() == statuses["approved"]
    assert Click.objects.count() == 1200 + 4  # the history's clicks and the fraud ring's
    assert set(BrandLicence.objects.values_list("brand", flat=True)) == {"spinpalace", "tradeking"}

    assert Player.objects.count() == 300 + 4
    by_status = dict(Player.objects.values_list("attribution_status").annotate(n=Count("id")))
    assert (
        by_status["attributed"] > 100
        and by_status["organic"] > 30
        and by_status["geo_blocked"] > 10
    )
    assert Player.objects.filter(attribution_note="unknown tracking token").exists()
    assert not Player.objects.filter(
        attribution_status="geo_blocked", affiliate__isnull=False
    ).exists()
    systems = dict(IdentifierMapping.objects.values_list("system").annotate(n=Count("id")))
    assert systems["crm"] == 300 + 4 and systems["mt5-live"] > 50 and systems["payments"] > 100

    assert KycRecord.objects.filter(is_current=True).count() == 180 + 4  # the ring passed KYC
    assert KycRecord.objects.filter(is_current=True, status="passed").exists()
    assert SelfExclusion.objects.count() == 3
    assert SelfExclusion.objects.filter(ended_at__isnull=False).count() == 1


def test_demo_seed_runs_once():
    seed()
    counts = (Player.objects.count(), Click.objects.count(), IdentifierMapping.objects.count())
    assert "already loaded" in seed()
    assert (
        Player.objects.count(),
        Click.objects.count(),
        IdentifierMapping.objects.count(),
    ) == counts


def test_demo_seed_leaves_work_waiting_in_every_queue():
    output = seed(staff_password="pw-for-tests-only")
    assert "no usable password" not in output

    # Plans of every kind the demo sells, assigned through the audited services.
    assert set(Plan.objects.values_list("kind", flat=True)) >= {
        "cpa",
        "revshare",
        "hybrid",
        "lot_rebate",
        "spread_share",
    }
    assert PlanTier.objects.filter(plan__name="Demo RevShare 25-35% (NGR tiers)").count() == 3
    assert AuditLog.objects.filter(action="plan.created").count() == Plan.objects.count()
    assert PlanAssignment.objects.filter(affiliate__name="Bonus Hunters DE").count() == 2
    assert (
        Plan.objects.get(
            assignments__affiliate__name="Bonus Hunters Network", assignments__brand="spinpalace"
        ).override_percent
        > 0
    )

    # Months of facts through the pipeline: commission lines of each kind, overrides for the parent.
    assert InboundEvent.objects.filter(status="processed").count() > 1000
    kinds = set(CommissionEntry.objects.values_list("kind", flat=True))
    assert kinds >= {"cpa", "revshare", "lot_rebate", "spread_share", "override", "clawback"}
    assert CommissionEntry.objects.filter(
        kind="override", affiliate__name="Bonus Hunters Network"
    ).exists()
    assert CommissionEntry.objects.filter(
        status="suppressed"
    ).exists()  # gates: short holds, exclusions
    assert Deposit.objects.values("player").distinct().count() > 150
    assert (
        RevenueReport.objects.exists()
        and Trade.objects.exists()
        and Chargeback.objects.count() == 8
    )

    # Past months closed, statements approved; the current month open.
    closed = list(PeriodClose.objects.order_by("period").values_list("period", flat=True))
    assert len(closed) >= 4 and not Statement.objects.filter(status="closed").exists()

    # Payouts in every state, the suspended affiliate held; maker-checker roles respected.
    statuses = Counter(Payout.objects.values_list("status", flat=True))
    assert set(statuses) == {
        "draft",
        "pending_approval",
        "approved",
        "submitted",
        "completed",
        "failed",
        "cancelled",
    }
    submitted = Payout.objects.get(status="submitted")  # the gateway reports it once running
    assert SandboxGatewayPayout.objects.get(reference=submitted.reference).status == "processing"
    pending = Payout.objects.get(status="pending_approval")
    assert pending.prepared_by.username == "finance-demo-maker" and pending.destination
    assert Payout.objects.get(status="failed").failure_reason.startswith(
        "Beneficiary account closed"
    )
    assert Payout.objects.filter(
        status="completed", submission_count=2
    ).exists()  # failed once, retried
    hold = PayoutHold.objects.get(released_at__isnull=True)
    assert hold.affiliate.name == "Rogue Traffic" and hold.affiliate.status == "suspended"
    assert (
        PayoutMethodChange.objects.get(status="pending").requested_by.username
        == "finance-demo-maker"
    )
    assert (
        ManualAdjustment.objects.get(status="pending").requested_by.username == "finance-demo-maker"
    )

    # Clawback cases from real chargebacks, some decided.
    cases = Counter(ClawbackCase.objects.values_list("status", flat=True))
    assert cases["open"] >= 1 and cases["approved"] == 2 and cases["dismissed"] == 1
    assert set(ClawbackCase.objects.values_list("chargeback_id", flat=True)) <= set(
        Chargeback.objects.values_list("chargeback_id", flat=True)
    )

    # The risk queue: one open case on the ring of four sharing a device, holding their lines.
    case = RiskCase.objects.get()
    assert case.status == "open" and case.affiliate.name == "Slots Review Ltd"
    assert case.players.count() == 4
    assert set(case.signals.values_list("rule__code", flat=True)) == {"duplicate_identity"}
    held = CommissionHold.objects.filter(released_at__isnull=True)
    assert sorted(held.values_list("entry__kind", "entry__amount")) == [("cpa", 150)] * 4

    # Integrations' queues and the alerts they raise.
    assert InboundEvent.objects.filter(status="parked").count() == 2
    assert InboundEvent.objects.filter(status="dead").count() == 1
    run = ReconciliationRun.objects.get()
    assert run.status == "succeeded" and run.delta == 3
    assert Alert.objects.filter(resolved_at__isnull=True).exists()

    # One user per role, each able to log in with the password given.
    for username, role in DEMO_STAFF.items():
        user = get_user_model().objects.get(username=username)
        assert user.check_password("pw-for-tests-only") and list(
            user.groups.values_list("name", flat=True)
        ) == [role]
