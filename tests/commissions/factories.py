"""Factories for commission plans and assignments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from apps.commissions.models import LotRate, Plan, PlanAssignment, PlanTier
from tests.factories import AffiliateFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    kind = Plan.Kind.CPA
    currency = "EUR"
    cpa_amount = Decimal("200")
    cpa_min_ftd = Decimal("20")


class PlanTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanTier

    plan = factory.SubFactory(PlanFactory)
    applies_to = PlanTier.AppliesTo.REVSHARE
    threshold = Decimal(0)
    percent = Decimal(25)


class LotRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LotRate

    plan = factory.SubFactory(PlanFactory, kind=Plan.Kind.LOT_REBATE)
    rate = Decimal("1")


class PlanAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanAssignment

    affiliate = factory.SubFactory(AffiliateFactory)
    brand = "spinpalace"
    plan = factory.SubFactory(PlanFactory)
    valid_from = dt.date(2026, 1, 1)
    valid_to = None
