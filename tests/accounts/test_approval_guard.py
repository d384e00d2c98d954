"""Every admin entry point that approves a money movement refuses a session without a second
factor by itself (a message, no change), whatever routes around the middleware."""

import pytest
from django.urls import reverse

from apps.commissions import services as commission_services
from apps.commissions.models import Statement
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import EndpointUrlChange
from apps.payouts import adjustments, method_changes
from apps.payouts import services as payout_services
from apps.payouts.models import ManualAdjustment, Payout, PayoutMethodChange

from .helpers import admin_request, messages_of, model_admin

pytestmark = pytest.mark.django_db

# (model whose admin acts, action name, module and function of the service it would call)
APPROVAL_ACTIONS = [
    (Payout, "approve_payouts", payout_services, "payouts_approve"),
    (Payout, "retry_payouts", payout_services, "payout_retry"),
    (PayoutMethodChange, "approve_changes", method_changes, "payout_method_change_approve"),
    (ManualAdjustment, "approve_adjustments", adjustments, "manual_adjustment_approve"),
    (Statement, "approve_statements", commission_services, "statement_approve"),
    (EndpointUrlChange, "approve_changes", outbound, "endpoint_url_change_approve"),
]


def never_called(*args, **kwargs):
    raise AssertionError("an approval ran without a second factor")


@pytest.mark.parametrize(
    ("model", "action", "module", "service"),
    APPROVAL_ACTIONS,
    ids=[f"{m._meta.model_name}.{a}" for m, a, _, _ in APPROVAL_ACTIONS],
)
def test_an_approval_action_refuses_an_unverified_approver(
    monkeypatch, otp_required, finance_checker, model, action, module, service
):
    monkeypatch.setattr(module, service, never_called)
    request = admin_request(finance_checker, {"apply": "1"})

    result = getattr(model_admin(model), action)(request, model.objects.all())

    assert result is None
    assert any("Approving needs a second factor" in m for m in messages_of(request))


def test_the_retry_view_refuses_an_unverified_approver(
    monkeypatch, otp_required, finance_checker, pending_payout
):
    monkeypatch.setattr(payout_services, "payout_retry", never_called)
    request = admin_request(finance_checker)
    response = model_admin(Payout).retry_view(request, pending_payout.pk)
    assert response.url == reverse("admin:payouts_payout_change", args=[pending_payout.pk])
    assert any("Approving needs a second factor" in m for m in messages_of(request))


def test_the_refusal_links_to_the_page_that_fixes_it(otp_required, finance_checker):
    request = admin_request(finance_checker)
    model_admin(Statement).approve_statements(request, Statement.objects.none())
    (message,) = messages_of(request)
    assert f'href="{reverse("accounts:otp_enrol")}"' in message
