"""Finance admin: queues with totals, bulk approval with its confirmation page, the failed queue,
each payout's history, and clear refusals."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts import services
from apps.payouts.models import Payout
from tests.factories import AffiliateFactory

from .factories import PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db
PENDING_URL = reverse("admin:payouts_pendingapprovalpayout_changelist")
FAILED_URL = reverse("admin:payouts_failedpayout_changelist")


@pytest.fixture
def pending_many(finance_maker, gateway):
    payouts = []
    for total in ("100.00", "250.50"):
        affiliate = AffiliateFactory()
        PayoutMethodFactory(affiliate=affiliate)
        approved_statement(affiliate=affiliate, total=total)
    for payout in services.payout_run_create().payouts.order_by("pk"):
        payouts.append(
            services.payout_submit_for_approval(payout=payout, acting_user=finance_maker)
        )
    return payouts


def test_pending_queue_shows_totals(client, finance_checker, pending_many):
    client.force_login(finance_checker)
    response = client.get(PENDING_URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Pending approval: totals" in body and "350.5" in body
    for payout in pending_many:
        assert payout.reference in body


def test_bulk_approve_confirms_count_totals_and_rates_then_approves(
    client, finance_checker, pending_many
):
    client.force_login(finance_checker)
    selected = [p.pk for p in pending_many]
    confirm = client.post(PENDING_URL, {"action": "approve_payouts", "_selected_action": selected})
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "approve <strong>2</strong> payouts" in page
    assert "350.5" in page and "identity" in page  # total per currency and the locked rate source
    assert not OutboundDelivery.objects.exists()

    done = client.post(
        PENDING_URL,
        {"action": "approve_payouts", "_selected_action": selected, "apply": "1"},
        follow=True,
    )
    assert "2 payout(s) approved and sent to the gateway." in done.content.decode()
    assert set(Payout.objects.values_list("status", flat=True)) == {"approved"}
    assert OutboundDelivery.objects.filter(topic="payout.request").count() == 2


def test_bulk_approve_by_the_preparer_is_refused_with_a_message(
    client, finance_maker, pending_many
):
    client.force_login(finance_maker)
    response = client.post(
        PENDING_URL,
        {"action": "approve_payouts", "_selected_action": [pending_many[0].pk], "apply": "1"},
        follow=True,
    )
    assert "maker-checker" in response.content.decode()
    assert Payout.objects.get(pk=pending_many[0].pk).status == "pending_approval"


def test_a_retention_user_cannot_open_or_approve(client, retention_user, pending_many):
    client.force_login(retention_user)
    assert client.get(PENDING_URL).status_code == 403
    response = client.post(reverse("admin:payouts_payout_approve", args=[pending_many[0].pk]))
    assert response.status_code == 403
    assert Payout.objects.get(pk=pending_many[0].pk).status == "pending_approval"


def test_failed_queue_retry_and_cancel(client, finance_checker, approved_payout):
    services.payout_mark_failed(
        reference=approved_payout.reference,
        reason_code="account_closed",
        message="Beneficiary account closed",
    )
    client.force_login(finance_checker)
    page = client.get(FAILED_URL).content.decode()
    assert approved_payout.reference in page and "Beneficiary account closed" in page

    response = client.post(
        FAILED_URL,
        {"action": "retry_payouts", "_selected_action": [approved_payout.pk]},
        follow=True,
    )
    assert "1 payout(s) sent to the gateway again." in response.content.decode()
    assert Payout.objects.get(pk=approved_payout.pk).status == "submitted"

    services.payout_mark_failed(
        reference=approved_payout.reference, reason_code="limit_exceeded", message="Limit"
    )
    client.post(
        FAILED_URL,
        {
            "action": "cancel_payouts",
            "_selected_action": [approved_payout.pk],
            "apply": "1",
            "reason": "Affiliate closed the wallet",
        },
    )
    assert Payout.objects.get(pk=approved_payout.pk).status == "cancelled"
    assert services.affiliate_balances() == {
        (approved_payout.affiliate_id, "EUR"): Decimal("120.00000000")
    }


def test_change_page_shows_the_full_history(client, finance_checker, approved_payout, monkeypatch):
    # the gateway at 127.0.0.1:9 refuses the connection: one attempt logged
    outbound.deliveries_send_due()
    client.force_login(finance_checker)
    page = client.get(
        reverse("admin:payouts_payout_change", args=[approved_payout.pk])
    ).content.decode()
    for action in ("payout.created", "payout.submitted_for_approval", "payout.approved"):
        assert action in page
    assert "Gateway requests" in page and "ConnectionError" in page
    assert "finance-checker" in page


def test_history_names_the_archive_of_a_request_whose_month_was_archived(
    client, finance_checker, approved_payout
):
    """Deliveries older than the retention period leave the database for a monthly archive
    file; the payout's history still says where its gateway request went."""
    from apps.core import partitions
    from apps.integrations.inbound import archive
    from apps.integrations.outbound.models import DELIVERY_TABLE, OutboundDeliveryKey
    from apps.payouts import selectors

    key = approved_payout.gateway_request_key(1)
    month_ago = datetime(2034, 2, 10, tzinfo=UTC)
    partitions.partition_ensure(DELIVERY_TABLE, month_ago.date())
    OutboundDelivery.objects.filter(idempotency_key=key).update(
        status="succeeded", created_at=month_ago
    )
    OutboundDeliveryKey.objects.filter(pk=key).update(created_at=month_ago)
    archive.archive_month(
        date(2034, 2, 1), now=datetime(2034, 4, 1, tzinfo=UTC), table=DELIVERY_TABLE
    )

    history = selectors.payout_history(approved_payout)
    assert history["deliveries"] == []
    ((row),) = history["archived"]
    assert (row["number"], row["key"]) == (1, key)
    assert row["archive"].path == f"outbound-deliveries/{DELIVERY_TABLE}/2034-02.jsonl.gz"
    client.force_login(finance_checker)
    page = client.get(
        reverse("admin:payouts_payout_change", args=[approved_payout.pk])
    ).content.decode()
    assert "archived with its attempts in" in page and row["archive"].path in page
    assert "No request sent to the gateway yet" not in page


def test_change_method_and_refused_transition_messages(client, finance_checker, approved_payout):
    services.payout_mark_failed(
        reference=approved_payout.reference, reason_code="x", message="Wallet rejected"
    )
    other = PayoutMethodFactory(
        affiliate=approved_payout.affiliate, kind="neteller", is_default=False
    )
    client.force_login(finance_checker)
    url = reverse("admin:payouts_payout_change_method", args=[approved_payout.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"method": other.pk})
    assert Payout.objects.get(pk=approved_payout.pk).method == other

    services.payout_cancel(payout=approved_payout, acting_user=finance_checker, reason="done")
    response = client.post(
        reverse("admin:payouts_payout_retry", args=[approved_payout.pk]), follow=True
    )
    assert "Retry refused: Only failed payouts can be retried" in response.content.decode()


def test_run_payouts_from_the_admin(client, finance_checker, affiliate, method):
    approved_statement(affiliate=affiliate, total="80")
    client.force_login(finance_checker)
    add_url = reverse("admin:payouts_payoutrun_add")
    assert "80" in client.get(add_url).content.decode()
    response = client.post(add_url, follow=True)
    assert "1 draft payout(s)" in response.content.decode()
    assert Payout.objects.get().status == "draft"
