"""Where money goes is dual-controlled (DOMAIN.md "Controls", issue 12 §1-3).

The two single-user routes around maker-checker the issue found (edit the method, then retry;
add a new default method, change the failed payout's method, retry) are refused, and the gateway
never receives the new destination until a second Finance user has approved it.
"""

import json

import pytest
from django.db import IntegrityError
from django.test import override_settings
from django.urls import reverse

from apps.core.models import AuditLog
from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts import method_changes, services
from apps.payouts.method_changes import PayoutMethodChangeRefused
from apps.payouts.models import Payout, PayoutMethod, PayoutMethodChange
from apps.payouts.services import PayoutTransitionRefused
from tests.factories import UserFactory

from .factories import PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db
ATTACKER_EMAIL = "fin1-friend@elsewhere.example"
Action = PayoutMethodChange.Action


def gateway_requests(payout) -> list[dict]:
    return [
        d.payload
        for d in OutboundDelivery.objects.filter(
            topic="payout.request", subject=payout.reference
        ).order_by("pk")
    ]


def never_sent_anywhere(text: str) -> bool:
    return all(text not in json.dumps(d.payload) for d in OutboundDelivery.objects.all())


@pytest.fixture
def failed_payout(approved_payout):
    services.payout_mark_failed(
        reference=approved_payout.reference, reason_code="account_closed", message="Wallet closed"
    )
    return Payout.objects.get(pk=approved_payout.pk)


# ---- 1. a payout is paid where it was approved -------------------------------------------------


def test_submission_records_the_destination_and_the_gateway_is_paid_to_it(
    pending_payout, method, finance_checker
):
    assert pending_payout.destination == method.destination()
    services.payout_approve(payout=pending_payout, acting_user=finance_checker)
    (request,) = gateway_requests(pending_payout)
    assert request["method"] == {
        "kind": "skrill",
        "currency": "EUR",
        "email": method.details["email"],
    }


def test_the_snapshot_is_paid_even_if_the_method_changes_after_approval(
    approved_payout, method, finance_maker, finance_checker
):
    old_email = method.details["email"]
    change = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.UPDATE,
        method=method,
        values={"details": {"email": ATTACKER_EMAIL}},
        acting_user=finance_maker,
    )
    method_changes.payout_method_change_approve(
        change=change, acting_user=finance_checker
    )  # properly approved
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": ATTACKER_EMAIL}

    services.payout_mark_failed(
        reference=approved_payout.reference, reason_code="timeout", message="Timed out"
    )
    services.payout_retry(payout=approved_payout, acting_user=finance_checker)
    assert [r["method"]["email"] for r in gateway_requests(approved_payout)] == [
        old_email,
        old_email,
    ]


# ---- 2. the single-user routes around maker-checker ---------------------------------------------


def test_route_one_edit_the_method_in_the_admin_then_retry(
    client, failed_payout, method, finance_maker
):
    """fin1 edits the affiliate's Skrill e-mail and presses retry: the edit is only a request, and
    the retry pays the approved destination."""
    old_email = method.details["email"]
    client.force_login(finance_maker)
    response = client.post(
        reverse("admin:payouts_payoutmethod_change", args=[method.pk]),
        {
            "threshold": "",
            "details": json.dumps({"email": ATTACKER_EMAIL}),
            "beneficiary_name": "",
            "beneficiary_address": "",
            "wallet_address": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Nothing changes until another Finance user approves it" in response.content.decode()
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": old_email}
    change = PayoutMethodChange.objects.get()
    assert (change.status, change.before["details"], change.after) == (
        "pending",
        {"email": old_email},
        {"details": {"email": ATTACKER_EMAIL}},
    )

    services.payout_retry(payout=failed_payout, acting_user=finance_maker)
    assert [r["method"]["email"] for r in gateway_requests(failed_payout)] == [old_email, old_email]
    with pytest.raises(PayoutMethodChangeRefused, match="another Finance user must approve"):
        method_changes.payout_method_change_approve(change=change, acting_user=finance_maker)
    assert never_sent_anywhere(ATTACKER_EMAIL)


def test_route_two_new_default_method_change_method_retry(
    failed_payout, method, finance_maker, finance_checker, settings
):
    """fin1 adds a new default method, switches the failed payout to it and retries: the method
    does not exist until fin2 approves it, and once it does the payout waits for an approval
    fin1 can never give, even with maker-checker turned off."""
    change = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.CREATE,
        acting_user=finance_maker,
        values={
            "kind": "neteller",
            "currency": "EUR",
            "details": {"email": ATTACKER_EMAIL},
            "is_default": True,
        },
    )
    assert list(PayoutMethod.objects.filter(affiliate=method.affiliate)) == [
        method
    ]  # nothing to switch to yet
    with pytest.raises(PayoutMethodChangeRefused):
        method_changes.payout_method_change_approve(change=change, acting_user=finance_maker)

    method_changes.payout_method_change_approve(change=change, acting_user=finance_checker)
    new_method = PayoutMethod.objects.get(kind="neteller")
    assert new_method.is_default and not PayoutMethod.objects.get(pk=method.pk).is_default

    moved = services.payout_change_method(
        payout=failed_payout, method=new_method, acting_user=finance_maker
    )
    assert moved.status == Payout.Status.PENDING_APPROVAL
    assert (
        moved.destination["details"] == {"email": ATTACKER_EMAIL}
        and moved.destination_changed_by == finance_maker
    )
    with pytest.raises(PayoutTransitionRefused, match="Only failed payouts can be retried"):
        services.payout_retry(payout=moved, acting_user=finance_maker)
    no_maker_checker = override_settings(AFFILIATEHUB_PAYOUT_MAKER_CHECKER=False)
    with no_maker_checker, pytest.raises(PayoutTransitionRefused, match="You changed where payout"):
        services.payout_approve(payout=moved, acting_user=finance_maker)
    assert never_sent_anywhere(ATTACKER_EMAIL)

    services.payout_approve(payout=moved, acting_user=finance_checker)  # the second person
    assert gateway_requests(failed_payout)[-1]["method"]["email"] == ATTACKER_EMAIL
    assert (
        Payout.objects.get(pk=failed_payout.pk).reference == failed_payout.reference
    )  # one payout, one reference


def test_switching_a_pending_payout_records_the_new_destination_for_another_approver(
    pending_payout, method, finance_checker
):
    other = PayoutMethodFactory(
        affiliate=method.affiliate,
        is_default=False,
        kind="neteller",
        details={"email": "second@wallet.example"},
    )
    moved = services.payout_change_method(
        payout=pending_payout, method=other, acting_user=finance_checker
    )
    assert moved.destination["kind"] == "neteller"
    with pytest.raises(PayoutTransitionRefused, match="You changed where payout"):
        services.payout_approve(payout=moved, acting_user=finance_checker)
    services.payout_approve(
        payout=moved, acting_user=UserFactory(username="finance-third", roles=["Finance"])
    )
    assert gateway_requests(pending_payout)[0]["method"]["email"] == "second@wallet.example"


# ---- destination change requests -----------------------------------------------------------------


def test_a_destination_change_takes_two_finance_users_and_is_audited_with_its_values(
    method, finance_maker, finance_checker
):
    old = method.details["email"]
    change = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.UPDATE,
        method=method,
        values={"details": {"email": "new@wallet.example"}},
        acting_user=finance_maker,
        reason="Affiliate moved wallets (ticket 42)",
    )
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": old}

    method_changes.payout_method_change_approve(change=change, acting_user=finance_checker)
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": "new@wallet.example"}
    change.refresh_from_db()
    assert (change.status, change.requested_by, change.decided_by) == (
        "approved",
        finance_maker,
        finance_checker,
    )
    applied = AuditLog.objects.get(
        object_type="payouts.payoutmethod", object_id=str(method.pk), action="payoutmethod.changed"
    )
    assert applied.before == {"details": {"email": old}} and applied.after == {
        "details": {"email": "new@wallet.example"}
    }
    assert applied.actor == finance_checker and f"#{change.pk}" in applied.reason
    assert set(
        AuditLog.objects.filter(object_type="payouts.payoutmethodchange").values_list(
            "action", flat=True
        )
    ) == {"payout_method_change.requested", "payout_method_change.approved"}


def test_the_database_refuses_a_change_decided_by_its_requester(method, finance_maker):
    change = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.DEACTIVATE,
        method=method,
        acting_user=finance_maker,
    )
    change.status, change.decided_by, change.decided_at = (
        "approved",
        finance_maker,
        change.requested_at,
    )
    with pytest.raises(IntegrityError, match="payoutmethodchange_second_person"):
        change.save()


def test_switching_the_default_and_deactivating_are_change_requests_too(
    method, finance_maker, finance_checker
):
    other = PayoutMethodFactory(affiliate=method.affiliate, is_default=False, kind="neteller")
    make_default = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.SET_DEFAULT,
        method=other,
        acting_user=finance_maker,
    )
    assert PayoutMethod.objects.get(pk=method.pk).is_default
    method_changes.payout_method_change_approve(change=make_default, acting_user=finance_checker)
    assert (
        PayoutMethod.objects.get(pk=other.pk).is_default
        and not PayoutMethod.objects.get(pk=method.pk).is_default
    )

    deactivate = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.DEACTIVATE,
        method=other,
        acting_user=finance_checker,
    )
    method_changes.payout_method_change_approve(change=deactivate, acting_user=finance_maker)
    assert not PayoutMethod.objects.get(pk=other.pk).is_active


def test_a_usdt_method_needs_the_travel_rule_data_even_as_a_request(affiliate, finance_maker):
    with pytest.raises(PayoutMethodChangeRefused, match="travel rule"):
        method_changes.payout_method_change_request(
            affiliate=affiliate,
            action=Action.CREATE,
            acting_user=finance_maker,
            values={"kind": "usdt", "currency": "USDT", "wallet_address": "TQ7x"},
        )
    assert not PayoutMethodChange.objects.exists()


def test_a_stale_request_is_refused_rather_than_overwriting_a_newer_change(
    method, finance_maker, finance_checker
):
    first = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.UPDATE,
        method=method,
        values={"details": {"email": "a@w.example"}},
        acting_user=finance_maker,
    )
    second = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.UPDATE,
        method=method,
        values={"details": {"email": "b@w.example"}},
        acting_user=finance_maker,
    )
    method_changes.payout_method_change_approve(change=first, acting_user=finance_checker)
    with pytest.raises(PayoutMethodChangeRefused, match="changed after"):
        method_changes.payout_method_change_approve(change=second, acting_user=finance_checker)
    assert PayoutMethod.objects.get(pk=method.pk).details == {"email": "a@w.example"}


def test_a_pending_destination_change_blocks_approval_until_it_is_decided(
    pending_payout, method, finance_maker, finance_checker
):
    change = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.UPDATE,
        method=method,
        values={"threshold": "50"},
        acting_user=finance_maker,
    )
    with pytest.raises(PayoutTransitionRefused, match="destination change waiting for approval"):
        services.payout_approve(payout=pending_payout, acting_user=finance_checker)
    result = services.payouts_approve(payouts=[pending_payout], acting_user=finance_checker)
    assert result.done == [] and "waiting for approval" in result.refused[0][1]
    assert not OutboundDelivery.objects.filter(topic="payout.request").exists()

    method_changes.payout_method_change_reject(
        change=change, acting_user=finance_checker, reason="Not requested"
    )
    assert (
        services.payout_approve(payout=pending_payout, acting_user=finance_checker).status
        == "approved"
    )


# ---- 3. the approver sees the destination --------------------------------------------------------


def test_the_approval_page_shows_the_destination_in_full_and_warns_when_it_differs(
    client, method, affiliate, finance_maker, finance_checker, gateway
):
    approved_statement(affiliate=affiliate, total="80.00")
    first = services.payout_run_create().payouts.get()
    services.payout_submit_for_approval(payout=first, acting_user=finance_maker)
    services.payout_approve(payout=first, acting_user=finance_checker)
    services.payout_mark_completed(reference=first.reference, gateway_reference="gw-1")

    change = method_changes.payout_method_change_request(
        affiliate=affiliate,
        action=Action.UPDATE,
        method=method,
        values={"details": {"email": "moved@wallet.example"}},
        acting_user=finance_maker,
    )
    method_changes.payout_method_change_approve(change=change, acting_user=finance_checker)
    approved_statement(affiliate=affiliate, total="90.00")
    second = services.payout_run_create().payouts.get()
    services.payout_submit_for_approval(payout=second, acting_user=finance_maker)

    client.force_login(finance_checker)
    page = client.get(reverse("admin:payouts_payout_approve", args=[second.pk])).content.decode()
    assert "moved@wallet.example" in page  # in full on the approval page
    assert f"Differs from the last paid destination ({first.reference}" in page
    detail = client.get(reverse("admin:payouts_payout_change", args=[second.pk])).content.decode()
    assert (
        "moved@wallet.example" not in detail and "m***@wallet.example" in detail
    )  # masked elsewhere


def test_refusals_in_the_admin_are_messages_not_errors(client, method, finance_maker):
    change = method_changes.payout_method_change_request(
        affiliate=method.affiliate,
        action=Action.DEACTIVATE,
        method=method,
        acting_user=finance_maker,
    )
    client.force_login(finance_maker)
    response = client.post(
        reverse("admin:payouts_payoutmethodchange_changelist"),
        {"action": "approve_changes", "_selected_action": [change.pk], "apply": "1"},
        follow=True,
    )
    assert response.status_code == 200
    assert "another Finance user must approve it" in response.content.decode()
    assert PayoutMethod.objects.get(pk=method.pk).is_active


def test_adding_a_method_in_the_admin_is_a_request_for_a_second_person(
    client, affiliate, method, finance_maker
):
    client.force_login(finance_maker)
    response = client.post(
        reverse("admin:payouts_payoutmethod_add"),
        {
            "affiliate": affiliate.pk,
            "kind": "neteller",
            "currency": "EUR",
            "threshold": "",
            "details": json.dumps({"email": ATTACKER_EMAIL}),
            "beneficiary_name": "",
            "beneficiary_address": "",
            "wallet_address": "",
            "is_default": "on",
            "is_active": "on",
        },
        follow=True,
    )
    assert (
        response.status_code == 200
        and "Nothing changes until another Finance user approves it" in response.content.decode()
    )
    change = PayoutMethodChange.objects.get()
    assert (change.action, change.before, change.after["details"]) == (
        "create",
        None,
        {"email": ATTACKER_EMAIL},
    )
    assert list(PayoutMethod.objects.filter(affiliate=affiliate)) == [method]


@pytest.mark.parametrize("view", ["submit", "cancel", "change-method", "approve", "retry"])
def test_viewing_payouts_is_not_enough_to_act_on_one(client, view):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(username=f"viewer-{view}", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_payout"))
    client.force_login(viewer)
    response = client.post(f"/admin/payouts/payout/1/{view}/", {"reason": "x"})
    assert response.status_code == 403 and b"you may only view them" in response.content
