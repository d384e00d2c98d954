"""The black-box scenario (issue 17 "Show"): over signed webhooks, a ring of 10 players sharing
a device hash under one affiliate opens one case, visible in GET /api/v1/risk-cases/, that holds
their CPAs; the period close and the payout run leave them out while every other affiliate (and
the ring affiliate's honest player) is paid."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.commissions.models import CommissionEntry, Plan, Statement
from apps.commissions.services import statement_approve, statements_close
from apps.integrations.inbound import dispatch
from apps.integrations.inbound.services import inbound_event_process
from apps.payouts import services as payouts
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.factories import AffiliateFactory, BrandLicenceFactory, ClickFactory, UserFactory
from tests.integrations.conftest import sign
from tests.integrations.factories import IntegrationFactory
from tests.payouts.factories import PayoutMethodFactory

pytestmark = pytest.mark.django_db
D = Decimal
UTC = dt.UTC
JAN = dt.date(2026, 1, 1)
_ids = itertools.count(1)


@pytest.fixture
def crm(db):
    return IntegrationFactory(slug="risk-crm", kind="crm", id_system="crm")


@pytest.fixture
def send(client, crm, monkeypatch, django_capture_on_commit_callbacks):
    """POST one signed webhook, then run what it enqueued the way the worker does."""
    queued = []
    monkeypatch.setattr(
        dispatch, "_publish", lambda task, args, countdown=None, **kw: queued.append(args[0])
    )
    secret = crm.secrets.get().secret

    def post(event_type: str, data: dict, at: dt.datetime):
        body = json.dumps({"type": event_type, "timestamp": at.isoformat(), "data": data}).encode()
        webhook_id, now = f"msg_risk_{next(_ids)}", int(time.time())
        with django_capture_on_commit_callbacks(execute=True):
            response = client.generic(
                "POST",
                f"/api/v1/webhooks/{crm.slug}/",
                body,
                content_type="application/json",
                HTTP_WEBHOOK_ID=webhook_id,
                HTTP_WEBHOOK_TIMESTAMP=str(now),
                HTTP_WEBHOOK_SIGNATURE=sign(secret, webhook_id, now, body),
            )
        assert response.status_code == 202, response.content
        while queued:
            assert inbound_event_process(event_id=queued.pop(0)) == "processed"

    return post


def cpa_affiliate():
    affiliate = AffiliateFactory()
    PlanAssignmentFactory(
        affiliate=affiliate,
        plan=PlanFactory(
            kind=Plan.Kind.CPA, cpa_amount=D(200), cpa_min_ftd=D(20), cpa_kyc_required=False
        ),
    )
    PayoutMethodFactory(affiliate=affiliate)
    return affiliate


_hours = itertools.count(0)


def register_and_deposit(send, affiliate, ref, *, device, amount):
    """Deposits an hour apart: the ring is caught by its shared device, not by its speed."""
    click = ClickFactory(
        link__creative__campaign__affiliate=affiliate,
        created_at=dt.datetime(2026, 1, 5, 9, tzinfo=UTC),
    )
    send(
        "player.registered",
        {
            "player_id": ref,
            "registered_at": "2026-01-05T10:00:00+00:00",
            "country": "DE",
            "brand": "spinpalace",
            "tracking_token": click.token,
            "device_hash": device,
            "ip_hash": f"ip-{ref}",
        },
        dt.datetime(2026, 1, 5, 10, tzinfo=UTC),
    )
    send(
        "deposit.created",
        {"deposit_id": f"dep-{ref}", "player_id": ref, "amount": amount, "currency": "EUR"},
        dt.datetime(2026, 1, 10, 0, 30, tzinfo=UTC) + dt.timedelta(hours=next(_hours)),
    )


def test_a_ring_of_ten_is_held_and_every_other_affiliate_is_paid(send, api_key_factory, settings):
    settings.AFFILIATEHUB_API_SETTLE_SECONDS = 0  # read the case at once
    BrandLicenceFactory(brand="spinpalace", country__code="DE")
    ring_affiliate, honest_a, honest_b = cpa_affiliate(), cpa_affiliate(), cpa_affiliate()
    for i in range(10):
        register_and_deposit(
            send, ring_affiliate, f"ring-{i}", device="dev-7f3a9c1e5b2d", amount="20"
        )
    register_and_deposit(send, ring_affiliate, "ring-aff-honest", device="dev-own-1", amount="100")
    for n, affiliate in enumerate((honest_a, honest_b)):
        for i in range(2):
            register_and_deposit(send, affiliate, f"h{n}-{i}", device=f"dev-h{n}-{i}", amount="50")

    # One case, visible through the read API under its own scope.
    assert api_key_factory("payouts:read").get("/api/v1/risk-cases/").status_code == 403
    cases = api_key_factory("risk:read").get("/api/v1/risk-cases/").json()["results"]
    assert len(cases) == 1
    [case] = cases
    assert case["affiliate"] == ring_affiliate.pk and case["status"] == "open"
    assert len(case["players"]) == 10
    assert case["held"] == [{"currency": "EUR", "amount": "2000.00000000"}]
    assert {s["rule"] for s in case["signals"]} == {"duplicate_identity"}
    assert "dev-7f3a9c1e5b2d" not in json.dumps(case)  # the shared value only masked

    # The close approves every CPA but the ring's; statements approved, then the payout run.
    statements_close(period=JAN)
    finance = UserFactory(roles=["Finance"])
    for statement in Statement.objects.filter(period=JAN):
        statement_approve(statement=statement, acting_user=finance)
    ring_cpas = CommissionEntry.objects.filter(
        affiliate=ring_affiliate, kind="cpa", player__in=case["players"]
    )
    assert set(ring_cpas.values_list("status", flat=True)) == {"pending"}
    run = payouts.payout_run_create()
    paid = {p.affiliate_id: p.source_amount for p in run.payouts.all()}
    assert paid == {
        ring_affiliate.pk: D("200.00"),
        honest_a.pk: D("400.00"),
        honest_b.pk: D("400.00"),
    }
    assert set(ring_cpas.values_list("status", flat=True)) == {"pending"}


def test_the_risk_cases_endpoint_is_documented(client):
    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/risk-cases/" in text and "risk_cases_list" in text and "risk:read" in text
