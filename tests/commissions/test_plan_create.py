"""plan_create: a new plan with its tiers and lot rates, validated and audited with its terms."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.commissions.models import Plan
from apps.commissions.services import PlanError, plan_create
from apps.core.models import AuditLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_plan_create_stores_terms_tiers_and_lot_rates_and_audits_them():
    finance = UserFactory(username="finance-plans", roles=["Finance"])
    plan = plan_create(
        name="IB rebate",
        kind="lot_rebate",
        currency="USD",
        terms={"min_hold_seconds": 120},
        lot_rates={"fx_major": Decimal("5"), "metals": Decimal("8")},
        acting_user=finance,
    )
    assert (plan.version, plan.family_id, plan.min_hold_seconds) == (1, None, 120)
    assert {r.group.code: r.rate for r in plan.lot_rates.all()} == {
        "fx_major": Decimal(5),
        "metals": Decimal(8),
    }
    audit = AuditLog.objects.get(action="plan.created")
    assert audit.actor == finance and audit.after["min_hold_seconds"] == 120
    assert sorted(audit.after["lot_rates"]) == sorted(
        [[r.group_id, str(r.rate)] for r in plan.lot_rates.all()]
    )

    tiered = plan_create(
        name="Tiered",
        kind="revshare",
        currency="EUR",
        terms={"revshare_percent": Decimal(25)},
        tiers=[("revshare", Decimal(0), Decimal(25)), ("revshare", Decimal(5000), Decimal(30))],
    )
    assert tiered.tiers.count() == 2
    assert (
        AuditLog.objects.get(action="plan.created", object_id=str(tiered.pk)).after["tiers"][1][1]
        == "5000.00000000"
    )


def test_plan_create_refuses_what_is_not_a_term_and_rolls_back_whole():
    with pytest.raises(PlanError, match="Not plan terms: colour"):
        plan_create(name="Odd", kind="cpa", currency="EUR", terms={"colour": "red"})
    with pytest.raises(PlanError, match="Unknown instrument groups: gems"):
        plan_create(name="Gems", kind="lot_rebate", currency="USD", lot_rates={"gems": Decimal(1)})
    with pytest.raises(
        ValidationError, match="hold time is only known when a position closes"
    ):  # Plan.clean()
        plan_create(
            name="Open side",
            kind="lot_rebate",
            currency="USD",
            terms={"rebate_side": "open", "min_hold_seconds": 60},
        )
    assert not Plan.objects.exists() and not AuditLog.objects.filter(action="plan.created").exists()
