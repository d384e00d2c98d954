"""The payout state machine: every transition, every refused one, and the audit trail."""

from decimal import Decimal

import pytest

from apps.commissions.models import CommissionEntry
from apps.core.models import AuditLog
from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts import services
from apps.payouts.models import Payout, PayoutAllocation
from apps.payouts.services import PayoutError, PayoutTransitionRefused

from .factories import PayoutMethodFactory

S = Payout.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def payout_in(draft_payout, finance_maker, finance_checker):
    """Put the payout in a state through the services themselves."""

    def make(status: str) -> Payout:
        p = draft_payout
        if status == S.DRAFT:
            return p
        if status == S.CANCELLED:
            return services.payout_cancel(payout=p, acting_user=finance_maker, reason="test")
        p = services.payout_submit_for_approval(payout=p, acting_user=finance_maker)
        if status == S.PENDING_APPROVAL:
            return p
        p = services.payout_approve(payout=p, acting_user=finance_checker)
        if status == S.APPROVED:
            return p
        if status == S.SUBMITTED:
            services.payout_mark_submitted(reference=p.reference)
        elif status == S.COMPLETED:
            services.payout_mark_completed(reference=p.reference, gateway_reference="gw-1")
        elif status == S.FAILED:
            services.payout_mark_failed(
                reference=p.reference, reason_code="account_closed", message="Account closed"
            )
        return Payout.objects.get(pk=p.pk)

    return make


def _operations(finance_maker, finance_checker, other_method):
    return {
        "submit_for_approval": lambda p: services.payout_submit_for_approval(
            payout=p, acting_user=finance_maker
        ),
        "approve": lambda p: services.payout_approve(payout=p, acting_user=finance_checker),
        "retry": lambda p: services.payout_retry(payout=p, acting_user=finance_checker),
        "cancel": lambda p: services.payout_cancel(
            payout=p, acting_user=finance_checker, reason="test"
        ),
        "change_method": lambda p: services.payout_change_method(
            payout=p, method=other_method, acting_user=finance_checker
        ),
        "mark_completed": lambda p: services.payout_mark_completed(
            reference=p.reference, gateway_reference="gw"
        ),
        "mark_failed": lambda p: services.payout_mark_failed(
            reference=p.reference, reason_code="x", message="y"
        ),
    }


# Which operations each state accepts (the rest must be refused). Gateway replays that change
# nothing (a second confirmation, a failure after completion) are idempotent no-ops instead.
ACCEPTS = {
    S.DRAFT: {"submit_for_approval", "cancel", "change_method"},
    S.PENDING_APPROVAL: {"approve", "cancel", "change_method"},
    S.APPROVED: {"mark_completed", "mark_failed"},
    S.SUBMITTED: {"mark_completed", "mark_failed"},
    S.FAILED: {"retry", "cancel", "change_method", "mark_completed"},
    S.COMPLETED: set(),
    S.CANCELLED: set(),
}
NO_OPS = {(S.COMPLETED, "mark_completed"), (S.COMPLETED, "mark_failed"), (S.FAILED, "mark_failed")}
ALL_OPS = [
    "submit_for_approval",
    "approve",
    "retry",
    "cancel",
    "change_method",
    "mark_completed",
    "mark_failed",
]


@pytest.mark.parametrize("status", list(ACCEPTS))
@pytest.mark.parametrize("operation", ALL_OPS)
def test_every_transition_and_refusal(
    status, operation, payout_in, finance_maker, finance_checker, method, gateway
):
    other = PayoutMethodFactory(
        affiliate=method.affiliate, is_default=False, kind="neteller", currency=method.currency
    )
    payout = payout_in(status)
    op = _operations(finance_maker, finance_checker, other)[operation]
    audit_before = AuditLog.objects.filter(
        object_type="payouts.payout", object_id=str(payout.pk)
    ).count()

    if (status, operation) in NO_OPS:
        assert op(payout) is False
        assert Payout.objects.get(pk=payout.pk).status == status
    elif operation in ACCEPTS[status]:
        op(payout)
        after = Payout.objects.get(pk=payout.pk)
        expected = {
            "submit_for_approval": S.PENDING_APPROVAL,
            "approve": S.APPROVED,
            "retry": S.SUBMITTED,
            "cancel": S.CANCELLED,
            "mark_completed": S.COMPLETED,
            "mark_failed": S.FAILED,
            # Another method on a failed payout is a new destination: back to approval, never
            # retried.
            "change_method": S.PENDING_APPROVAL if status == S.FAILED else status,
        }[operation]
        assert after.status == expected
        assert after.reference == payout.reference
        # The change and its audit row commit together.
        assert (
            AuditLog.objects.filter(object_type="payouts.payout", object_id=str(payout.pk)).count()
            == audit_before + 1
        )
    else:
        with pytest.raises(PayoutTransitionRefused):
            op(payout)
        assert Payout.objects.get(pk=payout.pk).status == status
        assert (
            AuditLog.objects.filter(object_type="payouts.payout", object_id=str(payout.pk)).count()
            == audit_before
        )


def test_approval_queues_one_gateway_request_with_reference_as_idempotency_key(
    approved_payout, gateway
):
    delivery = OutboundDelivery.objects.get(topic="payout.request")
    assert delivery.endpoint == gateway
    assert delivery.url == "http://127.0.0.1:9/gateway/payouts"
    assert delivery.headers == {"Idempotency-Key": approved_payout.reference}
    assert delivery.payload["reference"] == approved_payout.reference
    assert delivery.payload["amount"] == "120.00000000"
    assert delivery.payload["method"]["kind"] == "skrill"
    assert approved_payout.approved_by.username == "finance-checker"
    assert approved_payout.fx_locked_at is not None


def test_failure_then_retry_uses_the_same_reference(approved_payout, finance_checker):
    services.payout_mark_failed(
        reference=approved_payout.reference, reason_code="insufficient_funds", message="Float empty"
    )
    failed = Payout.objects.get(pk=approved_payout.pk)
    assert failed.status == S.FAILED
    assert (failed.failure_code, failed.failure_reason) == ("insufficient_funds", "Float empty")

    retried = services.payout_retry(payout=failed, acting_user=finance_checker)
    assert retried.status == S.SUBMITTED
    assert retried.failure_reason == ""
    requests_sent = OutboundDelivery.objects.filter(topic="payout.request").order_by("pk")
    assert [d.headers["Idempotency-Key"] for d in requests_sent] == [approved_payout.reference] * 2
    assert {d.payload["reference"] for d in requests_sent} == {approved_payout.reference}
    assert len({d.idempotency_key for d in requests_sent}) == 2


def test_confirmation_marks_ledger_paid_only_then(approved_payout):
    entries = CommissionEntry.objects.filter(affiliate=approved_payout.affiliate)
    assert set(entries.values_list("status", flat=True)) == {"approved"}
    services.payout_mark_submitted(reference=approved_payout.reference)
    assert set(entries.values_list("status", flat=True)) == {"approved"}
    assert (
        services.payout_mark_completed(
            reference=approved_payout.reference, gateway_reference="gw-9"
        )
        is True
    )
    assert set(entries.values_list("status", flat=True)) == {"paid"}
    assert PayoutAllocation.objects.get(payout=approved_payout).paid_at is not None
    # A duplicate confirmation completes nothing twice.
    assert (
        services.payout_mark_completed(
            reference=approved_payout.reference, gateway_reference="gw-9"
        )
        is False
    )
    assert AuditLog.objects.filter(action="payout.completed").count() == 1


def test_early_confirmation_before_our_delivery_recorded_success(approved_payout):
    assert (
        services.payout_mark_completed(
            reference=approved_payout.reference, gateway_reference="gw-2"
        )
        is True
    )
    # Our own record of the gateway's 2xx arrives later and changes nothing.
    assert services.payout_mark_submitted(reference=approved_payout.reference) is False
    payout = Payout.objects.get(pk=approved_payout.pk)
    assert payout.status == S.COMPLETED
    assert payout.gateway_reference == "gw-2"


def test_cancel_returns_the_amount_to_the_balance(payout_in, finance_checker, affiliate):
    failed = payout_in(S.FAILED)
    assert services.affiliate_balances(affiliate_ids=[affiliate.pk]) == {}
    services.payout_cancel(
        payout=failed, acting_user=finance_checker, reason="affiliate asked to wait"
    )
    assert services.affiliate_balances(affiliate_ids=[affiliate.pk]) == {
        (affiliate.pk, "EUR"): Decimal("120.00000000")
    }
    rerun = services.payout_run_create()
    assert rerun.payouts.get().source_amount == Decimal("120")


def test_cancel_needs_a_reason(draft_payout, finance_checker):
    with pytest.raises(PayoutError, match="reason"):
        services.payout_cancel(payout=draft_payout, acting_user=finance_checker, reason=" ")


def test_change_method_refuses_other_affiliates_and_currencies(pending_payout, finance_checker):
    foreign = PayoutMethodFactory()
    with pytest.raises(PayoutTransitionRefused, match="another affiliate"):
        services.payout_change_method(
            payout=pending_payout, method=foreign, acting_user=finance_checker
        )
    usd = PayoutMethodFactory(affiliate=pending_payout.affiliate, is_default=False, currency="USD")
    with pytest.raises(PayoutTransitionRefused, match="USD"):
        services.payout_change_method(
            payout=pending_payout, method=usd, acting_user=finance_checker
        )


def test_confirmation_for_unknown_reference_is_an_error(db):
    with pytest.raises(services.PayoutNotFound):
        services.payout_mark_completed(reference="PO-NOPE", gateway_reference="x")
