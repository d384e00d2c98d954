"""Payout runs: thresholds and carry-forward, FX conversion and rate locking, methods."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.test import override_settings
from django.utils import timezone

from apps.payouts import services
from apps.payouts.fx import FxRateMissing, fx_quote
from apps.payouts.models import FxLockMode, Payout, PayoutMethod, PayoutRunLine
from tests.factories import AffiliateFactory

from .factories import FxRateFactory, PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db


def test_under_the_threshold_carries_forward_until_it_is_reached():
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate, wire=True)  # wire: default threshold 500
    approved_statement(affiliate=affiliate, total="300.00")

    first = services.payout_run_create()
    line = first.lines.get()
    assert first.payout_count == 0 and first.carried_forward_count == 1
    assert line.outcome == PayoutRunLine.Outcome.CARRIED_FORWARD
    assert "threshold of 500" in line.note
    assert services.affiliate_balances() == {(affiliate.pk, "EUR"): Decimal("300")}

    approved_statement(affiliate=affiliate, total="250.00")
    second = services.payout_run_create()
    payout = second.payouts.get()
    assert payout.amount == Decimal("550.00") and payout.source_amount == Decimal("550.00")
    assert payout.allocations.count() == 2
    assert services.affiliate_balances() == {}
    # A third run finds nothing left to pay.
    assert services.payout_run_create().lines.count() == 0


def test_e_wallet_threshold_and_explicit_threshold():
    small, custom = AffiliateFactory(), AffiliateFactory()
    PayoutMethodFactory(affiliate=small)  # skrill: 25
    PayoutMethodFactory(affiliate=custom, threshold=Decimal("1000"))
    approved_statement(affiliate=small, total="25.00")
    approved_statement(affiliate=custom, total="999.99")
    run = services.payout_run_create()
    outcomes = {line.affiliate_id: line.outcome for line in run.lines.all()}
    assert outcomes == {small.pk: "payout", custom.pk: "carried_forward"}


def test_no_method_and_negative_balance_carry_forward():
    no_method, negative = AffiliateFactory(), AffiliateFactory()
    PayoutMethodFactory(affiliate=negative)
    approved_statement(affiliate=no_method, total="900")
    approved_statement(affiliate=negative, total="-40")
    notes = {line.affiliate_id: line.note for line in services.payout_run_create().lines.all()}
    assert notes == {
        no_method.pk: "No active default payout method.",
        negative.pk: "No positive balance.",
    }


def test_rate_locked_at_statement_approval_by_default():
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate, currency="USD")
    approval = timezone.now() - dt.timedelta(days=3)
    FxRateFactory(rate=Decimal("1.0850"), as_of=approval - dt.timedelta(hours=2), source="ECB")
    FxRateFactory(
        rate=Decimal("1.2000"), as_of=approval + dt.timedelta(hours=1), source="ECB"
    )  # published later
    approved_statement(affiliate=affiliate, total="1161.00", approved_at=approval)

    payout = services.payout_run_create().payouts.get()
    # DOMAIN.md: 1,161.00 EUR x 1.0850 = 1,259.685 -> 1,259.68 half-even.
    assert (payout.amount, payout.currency) == (Decimal("1259.68"), "USD")
    assert (payout.source_amount, payout.source_currency) == (Decimal("1161.00"), "EUR")
    assert payout.fx_rate == Decimal("1.0850") and payout.fx_source == "ECB"
    assert payout.fx_as_of == approval - dt.timedelta(hours=2)
    assert payout.fx_lock_mode == FxLockMode.STATEMENT_APPROVAL and payout.fx_locked_at is not None


def test_rate_locked_at_disbursement(settings, finance_maker, finance_checker, gateway):
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate, currency="USD")
    approval = timezone.now() - dt.timedelta(days=3)
    FxRateFactory(rate=Decimal("1.0850"), as_of=approval - dt.timedelta(hours=2))
    approved_statement(affiliate=affiliate, total="1161.00", approved_at=approval)
    with override_settings(AFFILIATEHUB_PAYOUT_FX_LOCK="disbursement"):
        payout = services.payout_run_create().payouts.get()
        assert payout.fx_lock_mode == FxLockMode.DISBURSEMENT and payout.fx_locked_at is None
        latest = FxRateFactory(
            rate=Decimal("1.1000"),
            as_of=timezone.now() - dt.timedelta(minutes=1),
            source="provider-x",
        )
        services.payout_submit_for_approval(payout=payout, acting_user=finance_maker)
        approved = services.payout_approve(payout=payout, acting_user=finance_checker)
    assert approved.fx_rate == Decimal("1.1000") and approved.fx_source == "provider-x"
    assert approved.fx_as_of == latest.as_of and approved.fx_locked_at == approved.approved_at
    assert approved.amount == Decimal("1277.10")
    assert Payout.objects.get(pk=payout.pk).amount == Decimal("1277.10")


def test_missing_rate_carries_forward_with_the_reason():
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate, currency="GBP")
    approved_statement(affiliate=affiliate, total="100")
    line = services.payout_run_create().lines.get()
    assert line.outcome == "carried_forward" and "No EUR->GBP rate" in line.note
    with pytest.raises(FxRateMissing):
        fx_quote(base="EUR", quote="GBP", at=timezone.now())


def test_two_runs_never_allocate_a_statement_twice():
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate)
    approved_statement(affiliate=affiliate, total="100")
    services.payout_run_create()
    services.payout_run_create()
    assert Payout.objects.count() == 1


def test_usdt_method_needs_travel_rule_fields(affiliate):
    with pytest.raises(services.PayoutError, match="travel rule"):
        services.payout_method_create(
            affiliate=affiliate, kind="usdt", currency="USDT", beneficiary_name="Ada"
        )
    method = services.payout_method_create(
        affiliate=affiliate,
        kind="usdt",
        currency="USDT",
        beneficiary_name="Ada Lovelace",
        beneficiary_address="1 Analytical Way",
        wallet_address="TQ7x9",
        details={"network": "TRC20"},
    )
    assert method.request_details()["wallet_address"] == "TQ7x9"
    with pytest.raises(IntegrityError):
        PayoutMethod.objects.create(
            affiliate=affiliate, kind="usdt", currency="USDT", is_default=False
        )


def test_a_new_default_method_replaces_the_old(affiliate):
    first = services.payout_method_create(
        affiliate=affiliate, kind="skrill", currency="EUR", details={"email": "a@x"}
    )
    second = services.payout_method_create(affiliate=affiliate, kind="bank_wire", currency="EUR")
    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
