"""sandbox_run against a live hub: signed events land, faults behave as they do on the wire."""

import datetime as dt
import random
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.affiliates.models import Click
from apps.integrations.accounts import integration_rotate_secret
from apps.integrations.models import InboundEvent, Integration
from apps.sandbox.models import SandboxEndpoint, SandboxSentEvent
from apps.sandbox.simulator import Faults, Simulator
from apps.sandbox.traffic import HubClient, run_traffic
from apps.sandbox.world import ENDPOINTS
from tests.factories import TrackingLinkFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_traffic_lands_signed_with_duplicates_dropped_and_invalid_events(live_server):
    link = TrackingLinkFactory()
    stats = run_traffic(
        base_url=live_server.url,
        rate=200,
        max_events=80,
        seed=5,
        faults=Faults(duplicate=0.1, drop=0.1, out_of_order=0.3, invalid=0.05),
    )

    assert set(
        Integration.objects.filter(slug__in=ENDPOINTS).values_list("slug", flat=True)
    ) == set(ENDPOINTS)
    assert SandboxEndpoint.objects.count() == len(ENDPOINTS)
    # Every signature verified: nothing was answered 401, and every delivered event is stored.
    assert 401 not in stats.by_status
    assert stats.events >= 80
    sent = SandboxSentEvent.objects.all()
    assert sent.count() == stats.events
    delivered = {(s.integration_slug, s.webhook_id) for s in sent if not s.dropped}
    stored = set(InboundEvent.objects.values_list("integration__slug", "webhook_id"))
    assert stored == delivered
    # Dropped events never reached the hub, but are kept for polling to recover.
    dropped = sent.filter(dropped=True)
    assert dropped.exists() and dropped.count() == stats.dropped
    assert all(s.deliveries == 0 and s.last_status is None for s in dropped)
    # Duplicates: delivered twice, stored once, answered 200 the second time.
    duplicates = sent.filter(deliveries=2)
    assert duplicates.exists() and all(s.last_status == 200 for s in duplicates)
    # Malformed amounts were stored as invalid after the signature check (422).
    invalid = InboundEvent.objects.filter(status=InboundEvent.Status.INVALID)
    assert invalid.count() == sent.filter(last_status=422).count()
    # Registrations from tracking links carry a token the hub issued on a real click.
    tokens = {
        e.payload["data"]["tracking_token"]
        for e in InboundEvent.objects.filter(event_type="player.registered")
        if "tracking_token" in e.payload["data"]
    }
    assert tokens and tokens <= set(Click.objects.filter(link=link).values_list("token", flat=True))


def test_rerun_reuses_integrations_and_rotated_secrets(live_server):
    run_traffic(base_url=live_server.url, rate=100, max_events=3, seed=1, faults=Faults.none())
    crm = Integration.objects.get(slug="sandbox-crm")
    integration_rotate_secret(integration=crm, grace=dt.timedelta(0))
    stats = run_traffic(
        base_url=live_server.url, rate=100, max_events=10, seed=2, faults=Faults.none()
    )
    assert Integration.objects.filter(slug__in=ENDPOINTS).count() == len(ENDPOINTS)
    assert 401 not in stats.by_status
    assert set(stats.by_status) == {202}


def test_command_runs_for_a_budget_and_reports(live_server):
    TrackingLinkFactory()
    out = StringIO()
    call_command(
        "sandbox_run",
        base_url=live_server.url,
        rate=50,
        max_events=10,
        seed=3,
        no_faults=True,
        stdout=out,
    )
    assert "Sandbox traffic done: 10 events, 10 deliveries, 0 dropped (202: 10)" in out.getvalue()
    assert InboundEvent.objects.count() == 10


def test_waits_for_a_hub_that_is_not_up_and_stops_cleanly():
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    stats = run_traffic(base_url="http://127.0.0.1:9", stop=stop, max_events=5)
    timer.join()
    assert stats.events == 0  # it waited for the hub, then stopped without sending anything
    assert not Integration.objects.exists()


def test_a_rotated_secret_is_picked_up_after_a_401(live_server):
    run_traffic(base_url=live_server.url, rate=100, max_events=2, seed=1, faults=Faults.none())
    crm = Integration.objects.get(slug="sandbox-crm")
    integration_rotate_secret(integration=crm, grace=dt.timedelta(0))
    client = HubClient(
        base_url=live_server.url,
        secrets={"sandbox-crm": SandboxEndpoint.objects.get(slug="sandbox-crm").secret},
    )
    event = Simulator(rng=random.Random(1), clock=timezone.now, faults=Faults.none()).step()[0]
    assert client.deliver(event) == 202
    assert client.secrets["sandbox-crm"] == SandboxEndpoint.objects.get(slug="sandbox-crm").secret


def test_a_system_told_to_be_quiet_sends_no_webhooks_until_told_otherwise(live_server):
    run_traffic(base_url=live_server.url, rate=200, max_events=5, seed=1, faults=Faults.none())
    out = StringIO()
    call_command("sandbox_quiet", "crm", minutes=30, stdout=out)
    assert "sandbox-crm sends no webhooks until" in out.getvalue()
    assert SandboxEndpoint.objects.get(slug="sandbox-crm").is_quiet()
    stored_before = InboundEvent.objects.filter(integration__slug="sandbox-crm").count()

    run_traffic(base_url=live_server.url, rate=200, max_events=40, seed=2, faults=Faults.none())

    # The CRM's events were produced and kept (polling can still fetch them) but not delivered;
    # the other systems kept sending.
    assert InboundEvent.objects.filter(integration__slug="sandbox-crm").count() == stored_before
    withheld = SandboxSentEvent.objects.filter(integration_slug="sandbox-crm", dropped=True)
    assert withheld.exists() and all(e.deliveries == 0 for e in withheld)
    assert InboundEvent.objects.exclude(integration__slug="sandbox-crm").count() > 5

    call_command("sandbox_quiet", "sandbox-crm", minutes=0, stdout=out)
    assert "sandbox-crm sends webhooks again" in out.getvalue()
    run_traffic(base_url=live_server.url, rate=200, max_events=40, seed=3, faults=Faults.none())
    assert InboundEvent.objects.filter(integration__slug="sandbox-crm").count() > stored_before


def test_quiet_needs_a_known_system():
    with pytest.raises(CommandError, match="No sandbox system 'sandbox-nope'"):
        call_command("sandbox_quiet", "nope", minutes=5)
