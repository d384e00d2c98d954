"""The fact handlers, driven through the real pipeline: store -> process -> handlers -> facts.

Events are stored with the integrations store service (as the webhook view does) and processed
by its processing service. Enqueueing is replaced by an in-memory queue that this test drains
synchronously, so parking, unparking and retries run exactly as the worker would run them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.compliance.models import KycRecord, SelfExclusion
from apps.core.models import AuditLog
from apps.integrations.accounts import integration_create
from apps.integrations.inbound import dispatch, registry
from apps.integrations.inbound.services import (
    DUPLICATE,
    inbound_event_process,
    inbound_event_store,
    incoming_event,
    item_hash,
)
from apps.integrations.models import InboundEvent
from apps.mappings import handlers
from apps.mappings.models import IdentifierMapping
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from apps.players.models import Player
from tests.factories import IdentifierMappingFactory

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Pipeline:
    """Store events like the webhook view and process them like the worker, synchronously."""

    def __init__(self, monkeypatch, capture_on_commit):
        self.queue: list[int] = []
        self._capture = capture_on_commit
        self._sequence = 0
        monkeypatch.setattr(
            dispatch,
            "enqueue_event",
            lambda event_id, event_type, countdown=None: self.queue.append(event_id),
        )
        monkeypatch.setattr(
            dispatch, "enqueue_events", lambda events: self.queue.extend(i for i, _ in events)
        )
        monkeypatch.setattr(
            dispatch, "enqueue_sequence", lambda event_ids: self.queue.extend(event_ids)
        )

    def deliver(
        self,
        integration,
        event_type: str,
        data: dict,
        *,
        at: datetime = T0,
        webhook_id: str | None = None,
    ):
        if webhook_id is None:
            self._sequence += 1
            webhook_id = f"msg_{integration.slug}_{self._sequence}"
        envelope = {
            "type": event_type,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        event = incoming_event(
            integration_kind=integration.kind,
            webhook_id=webhook_id,
            envelope=envelope,
            body_hash=item_hash(envelope),
        )
        with self._capture(execute=True):
            return inbound_event_store(integration_id=integration.pk, event=event, source="webhook")

    def run(self) -> dict[int, str]:
        """Process every queued event (and whatever processing queues), like the worker."""
        outcomes: dict[int, str] = {}
        while self.queue:
            event_id = self.queue.pop(0)
            with self._capture(execute=True):
                outcomes[event_id] = inbound_event_process(event_id=event_id)
        return outcomes

    def deliver_and_run(self, integration, event_type: str, data: dict, **kwargs) -> InboundEvent:
        stored = self.deliver(integration, event_type, data, **kwargs)
        self.run()
        return InboundEvent.objects.get(pk=stored.event_id)


@pytest.fixture
def pipeline(monkeypatch, django_capture_on_commit_callbacks):
    return Pipeline(monkeypatch, django_capture_on_commit_callbacks)


@pytest.fixture
def crm(db):
    return integration_create(slug="crm-main", kind="crm", id_system="crm")[0]


@pytest.fixture
def psp(db):
    return integration_create(slug="psp", kind="payments", id_system="payments")[0]


@pytest.fixture
def mt5(db):
    return integration_create(slug="mt5-live", kind="trading", id_system="mt5-live")[0]


@pytest.fixture
def kyc_feed(db):
    return integration_create(slug="kyc-feed", kind="compliance", id_system="crm")[0]


@pytest.fixture
def player(db):
    """A registered player known as crm:C-1, payments:P-1 and mt5-live:800123."""
    mapping = IdentifierMappingFactory(system="crm", external_id="C-1")
    IdentifierMappingFactory(player=mapping.player, system="payments", external_id="P-1")
    IdentifierMappingFactory(player=mapping.player, system="mt5-live", external_id="800123")
    return mapping.player


def deposit_data(deposit_id="D-1", player_id="P-1", amount="100.00"):
    return {"deposit_id": deposit_id, "player_id": player_id, "amount": amount, "currency": "EUR"}


# --- registration -----------------------------------------------------------------------------


def test_player_registered_creates_the_player_with_its_mappings(pipeline, crm, licensed_de, click):
    event = pipeline.deliver_and_run(
        crm,
        "player.registered",
        {
            "player_id": "C-9",
            "registered_at": "2026-11-20T09:30:00Z",
            "tracking_token": click.token,
            "country": "DE",
            "brand": "spinpalace",
            "identifiers": {"mt5-live": "800999"},
        },
    )

    assert event.status == Status.PROCESSED
    player = Player.objects.get()
    assert player.affiliate_id == click.link.affiliate_id
    assert player.attribution_status == Player.AttributionStatus.ATTRIBUTED
    assert set(
        IdentifierMapping.objects.filter(player=player).values_list(
            "system", "external_id", "source"
        )
    ) == {
        ("crm", "C-9", "integration:crm-main"),
        ("mt5-live", "800999", "integration:crm-main"),
    }


def test_sender_player_id_wins_over_an_identifiers_entry_for_its_own_system(
    pipeline, crm, licensed_de
):
    pipeline.deliver_and_run(
        crm,
        "player.registered",
        {
            "player_id": "C-9",
            "registered_at": "2026-11-20T09:30:00Z",
            "country": "DE",
            "brand": "spinpalace",
            "identifiers": {"crm": "C-other"},
        },
    )

    assert list(IdentifierMapping.objects.values_list("system", "external_id")) == [("crm", "C-9")]


def test_player_registered_twice_is_one_player(pipeline, crm, licensed_de):
    data = {
        "player_id": "C-9",
        "registered_at": "2026-11-20T09:30:00Z",
        "country": "DE",
        "brand": "spinpalace",
    }
    first = pipeline.deliver_and_run(crm, "player.registered", data)
    second = pipeline.deliver_and_run(
        crm, "player.registered", data
    )  # re-sent under a new webhook id

    assert (first.status, second.status) == (Status.PROCESSED, Status.PROCESSED)
    assert Player.objects.count() == 1


def test_trading_registration_links_a_new_login_to_the_known_crm_player(pipeline, mt5, player):
    # The MT5 server announces a new login for a client the CRM already registered. Brand and
    # country are required at the door (a new player needs them: WEBHOOKS.md §2); a known
    # player keeps its own.
    event = pipeline.deliver_and_run(
        mt5,
        "player.registered",
        {
            "player_id": "800777",
            "registered_at": "2026-11-20T09:30:00Z",
            "identifiers": {"crm": "C-1"},
            "country": "MT",
            "brand": "other-brand",
        },
    )

    assert event.status == Status.PROCESSED
    assert Player.objects.count() == 1
    mapping = IdentifierMapping.objects.get(system="mt5-live", external_id="800777")
    assert mapping.player == player and mapping.source == "integration:mt5-live"
    assert AuditLog.objects.filter(action="mapping.created", object_id=str(mapping.pk)).exists()
    player.refresh_from_db()
    assert (player.brand, player.country) != ("other-brand", "MT")


def test_registration_naming_two_players_is_dead_lettered_at_once(pipeline, crm, player):
    other = IdentifierMappingFactory(system="mt5-live", external_id="900001").player
    event = pipeline.deliver_and_run(
        crm,
        "player.registered",
        {
            "player_id": "C-1",
            "registered_at": "2026-11-20T09:30:00Z",
            "identifiers": {"mt5-live": "900001"},
            "country": "DE",
            "brand": "spinpalace",
        },
    )

    assert event.status == Status.DEAD
    assert event.attempts == 1 and event.next_attempt_at is None
    assert event.last_error.startswith("Rejected: These identifiers belong to different players")
    assert IdentifierMapping.objects.filter(player=other).count() == 1


def test_a_registration_without_brand_is_refused_at_the_door_not_dead_lettered(pipeline, crm):
    event = pipeline.deliver_and_run(
        crm,
        "player.registered",
        {
            "player_id": "C-77",
            "registered_at": "2026-11-20T09:30:00Z",
            "country": "DE",
        },
    )

    assert event.status == Status.INVALID  # the sender got a 422, not a 202
    assert event.errors == {"data.brand": ["This field is required."]}
    assert not Player.objects.exists()


# --- deposits, duplicates, parking ------------------------------------------------------------


def test_deposit_is_recorded_with_its_source_event(pipeline, psp, player):
    event = pipeline.deliver_and_run(psp, "deposit.created", deposit_data(), at=T0)

    assert event.status == Status.PROCESSED
    deposit = Deposit.objects.recorded_by(event.pk).get()
    assert (deposit.player, deposit.system, deposit.deposit_id) == (player, "payments", "D-1")
    assert (deposit.amount, deposit.currency, deposit.occurred_at) == (Decimal("100.00"), "EUR", T0)
    assert deposit.is_first


def test_duplicate_deliveries_create_one_deposit(pipeline, psp, player):
    first = pipeline.deliver(psp, "deposit.created", deposit_data(), webhook_id="msg_1")
    again = pipeline.deliver(
        psp, "deposit.created", deposit_data(), webhook_id="msg_1"
    )  # same webhook id
    resent = pipeline.deliver(
        psp, "deposit.created", deposit_data(), webhook_id="msg_2"
    )  # same deposit, new id
    outcomes = pipeline.run()

    assert again.outcome == DUPLICATE and again.event_id == first.event_id
    assert outcomes == {first.event_id: "processed", resent.event_id: "processed"}
    assert Deposit.objects.count() == 1
    assert Deposit.objects.get().source_event_id == first.event_id
    assert not Deposit.objects.recorded_by(resent.event_id).exists()
    # A stray second run of the processed event (redelivered task) changes nothing.
    assert inbound_event_process(event_id=first.event_id) == "skipped"
    assert Deposit.objects.count() == 1


def test_deposit_before_registration_is_parked_then_recorded_once_after_player_registered(
    pipeline, crm, licensed_de
):
    deposit_event = pipeline.deliver_and_run(
        crm, "deposit.created", deposit_data(player_id="C-9"), at=T0
    )

    assert deposit_event.status == Status.PARKED
    assert (deposit_event.parked_system, deposit_event.parked_external_id) == ("crm", "C-9")
    assert not Deposit.objects.exists()

    registered = pipeline.deliver(
        crm,
        "player.registered",
        {
            "player_id": "C-9",
            "registered_at": "2026-11-20T09:30:00Z",
            "country": "DE",
            "brand": "spinpalace",
        },
        at=T0 - timedelta(minutes=30),
    )
    outcomes = pipeline.run()

    # The registration un-parks the deposit; the worker then processes it once.
    assert outcomes == {registered.event_id: "processed", deposit_event.pk: "processed"}
    deposit = Deposit.objects.get()
    assert (
        deposit.player == Player.objects.get()
        and deposit.source_event_id == deposit_event.pk
        and deposit.is_first
    )
    deposit_event.refresh_from_db()
    assert deposit_event.status == Status.PROCESSED
    # The sweeper's recheck or a redelivered task cannot record it again.
    assert inbound_event_process(event_id=deposit_event.pk) == "skipped"
    assert Deposit.objects.count() == 1


def test_a_lookup_that_parks_its_event_still_counts_as_a_miss(pipeline, crm, player):
    from apps.mappings.models import ResolutionStat
    from apps.mappings.services import resolution_stats_flush

    assert (
        pipeline.deliver_and_run(crm, "deposit.created", deposit_data(player_id="C-404")).status
        == Status.PARKED
    )
    assert (
        pipeline.deliver_and_run(
            crm, "deposit.created", deposit_data("D-2", player_id="C-1")
        ).status
        == Status.PROCESSED
    )
    resolution_stats_flush()
    row = ResolutionStat.objects.get(system="crm")
    assert (row.lookups, row.misses) == (
        2,
        1,
    )  # the parked event's transaction rolled back; its miss did not


def test_deposit_parked_until_the_registration_api_maps_the_player(
    pipeline, psp, licensed_de, api_key_factory
):
    event = pipeline.deliver_and_run(psp, "deposit.created", deposit_data(player_id="P-9"))
    assert event.status == Status.PARKED

    client = api_key_factory("registrations:write")
    with pipeline._capture(execute=True):
        response = client.post(
            "/api/v1/registrations/",
            {
                "registered_at": "2026-11-20T09:30:00Z",
                "country": "DE",
                "brand": "spinpalace",
                "identifiers": {"crm": "C-9", "payments": "P-9"},
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    assert pipeline.run() == {event.pk: "processed"}

    assert Deposit.objects.get().player_id == response.json()["player_id"]


def test_signed_webhook_deliveries_record_one_deposit(pipeline, client, player):
    psp, secret = integration_create(slug="psp-signed", kind="payments", id_system="payments")
    body = json.dumps(
        {"type": "deposit.created", "timestamp": "2026-11-20T10:00:00Z", "data": deposit_data()}
    )

    def post():
        now = timezone.now()
        headers = {
            "HTTP_WEBHOOK_ID": "msg_2kqZ1",
            "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
            "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign("msg_2kqZ1", now, body),
        }
        with pipeline._capture(execute=True):
            return client.post(
                f"/api/v1/webhooks/{psp.slug}/", body, content_type="application/json", **headers
            )

    first, retried = post(), post()  # the sender retries: same webhook id
    outcomes = pipeline.run()

    assert (first.status_code, retried.status_code) == (202, 200), (first.content, retried.content)
    assert retried.json()["status"] == "duplicate"
    event_id = first.json()["event_id"]
    assert outcomes == {event_id: "processed"}
    deposit = Deposit.objects.get()
    assert (deposit.player, deposit.source_event_id, deposit.amount) == (
        player,
        event_id,
        Decimal("100.00"),
    )


def test_out_of_order_earlier_deposit_moves_the_first_deposit(pipeline, psp, player):
    later = pipeline.deliver_and_run(psp, "deposit.created", deposit_data("D-2"), at=T0)
    earlier = pipeline.deliver_and_run(
        psp, "deposit.created", deposit_data("D-1"), at=T0 - timedelta(days=1)
    )

    assert not Deposit.objects.recorded_by(later.pk).get().is_first
    assert Deposit.objects.recorded_by(earlier.pk).get().is_first


# --- the other facts --------------------------------------------------------------------------


def test_revenue_reports_restate_through_the_pipeline(pipeline, crm, player):
    day = {
        "player_id": "C-1",
        "date": "2026-11-19",
        "currency": "EUR",
        "stakes": "1000.00",
        "winnings": "900.00",
    }
    first = pipeline.deliver_and_run(
        crm, "revenue.reported", {**day, "report_id": "R-1", "bonuses": "20"}, at=T0
    )
    restated = pipeline.deliver_and_run(
        crm,
        "revenue.reported",
        {**day, "report_id": "R-2", "winnings": "950"},
        at=T0 + timedelta(hours=2),
    )
    late_old = pipeline.deliver_and_run(
        crm, "revenue.reported", {**day, "report_id": "R-0"}, at=T0 - timedelta(hours=2)
    )

    assert {first.status, restated.status, late_old.status} == {Status.PROCESSED}
    current = RevenueReport.objects.get(player=player, is_current=True)
    assert current.source_event_id == restated.pk and current.ggr == Decimal("50")
    assert RevenueReport.objects.recorded_by(first.pk).get().superseded_by == current
    assert RevenueReport.objects.recorded_by(first.pk).get().bonuses == Decimal("20")
    assert not RevenueReport.objects.recorded_by(late_old.pk).get().is_current
    assert RevenueReport.objects.filter(player=player).count() == 3


def trade_data(deal_id="D-5001", login="800123"):
    return {
        "platform": "mt5",
        "server": "live-1",
        "login": login,
        "deal_id": deal_id,
        "position_id": "P-77",
        "symbol": "EURUSD",
        "volume_lots": "3.5",
        "entry": "out",
        "profit": "-12.40",
        "currency": "USD",
        "closed_at": "2026-11-20T09:59:00Z",
        "opened_at": "2026-11-20T09:00:00Z",
        "commission": "-7.00",
    }


def test_trade_is_resolved_by_login_and_idempotent_on_the_deal(pipeline, mt5, player):
    first = pipeline.deliver_and_run(mt5, "trade.closed", trade_data())
    again = pipeline.deliver_and_run(mt5, "trade.closed", trade_data())

    assert (first.status, again.status) == (Status.PROCESSED, Status.PROCESSED)
    trade = Trade.objects.get()
    assert (trade.player, trade.system, trade.login, trade.source_event_id) == (
        player,
        "mt5-live",
        "800123",
        first.pk,
    )
    assert (trade.volume_lots, trade.profit, trade.commission) == (
        Decimal("3.5"),
        Decimal("-12.40"),
        Decimal("-7"),
    )
    assert trade.closed_at == datetime(2026, 11, 20, 9, 59, tzinfo=UTC)


def test_trade_of_an_unknown_login_is_parked_on_the_login(pipeline, mt5, player):
    event = pipeline.deliver_and_run(mt5, "trade.closed", trade_data(login="800999"))

    assert event.status == Status.PARKED
    assert (event.parked_system, event.parked_external_id) == ("mt5-live", "800999")
    assert not Trade.objects.exists()


def test_purchase_and_its_refund(pipeline, crm, player):
    data = {
        "purchase_id": "PU-1",
        "player_id": "C-1",
        "product": "100k challenge",
        "amount": "499.00",
        "currency": "USD",
    }
    bought = pipeline.deliver_and_run(crm, "purchase.created", data, at=T0)
    refunded = pipeline.deliver_and_run(crm, "purchase.refunded", data, at=T0 + timedelta(days=2))

    assert (bought.status, refunded.status) == (Status.PROCESSED, Status.PROCESSED)
    purchase = Purchase.objects.recorded_by(bought.pk).get()
    assert purchase.is_first_purchase and purchase.purchased_at == T0
    assert purchase.status == Purchase.Status.REFUNDED and purchase.refunded_at == T0 + timedelta(
        days=2
    )
    assert Purchase.objects.get(refund_source_event_id=refunded.pk) == purchase


def test_refund_before_its_purchase_fails_and_succeeds_on_retry(pipeline, crm, player):
    data = {
        "purchase_id": "PU-1",
        "player_id": "C-1",
        "product": "100k challenge",
        "amount": "499.00",
        "currency": "USD",
    }
    refunded = pipeline.deliver_and_run(crm, "purchase.refunded", data, at=T0 + timedelta(days=2))

    assert refunded.status == Status.FAILED and "unknown purchase crm:PU-1" in refunded.last_error
    assert not Purchase.objects.exists()

    pipeline.deliver_and_run(crm, "purchase.created", data, at=T0)
    InboundEvent.objects.filter(pk=refunded.pk).update(
        next_attempt_at=timezone.now()
    )  # the retry is due
    assert inbound_event_process(event_id=refunded.pk) == "processed"
    assert Purchase.objects.get().status == Purchase.Status.REFUNDED


def test_chargeback_links_the_deposit_it_names(pipeline, psp, player):
    deposit_event = pipeline.deliver_and_run(psp, "deposit.created", deposit_data("D-1"))
    event = pipeline.deliver_and_run(
        psp,
        "chargeback.created",
        {
            "chargeback_id": "CB-1",
            "player_id": "P-1",
            "amount": "100.00",
            "currency": "EUR",
            "deposit_id": "D-1",
            "reason": "stolen card",
        },
        at=T0 + timedelta(days=30),
    )

    assert event.status == Status.PROCESSED
    chargeback = Chargeback.objects.recorded_by(event.pk).get()
    assert chargeback.deposit == Deposit.objects.recorded_by(deposit_event.pk).get()
    assert (chargeback.reason, chargeback.occurred_at) == ("stolen card", T0 + timedelta(days=30))


def test_kyc_and_self_exclusion_events_reach_the_compliance_services(pipeline, kyc_feed, player):
    kyc = pipeline.deliver_and_run(
        kyc_feed,
        "kyc.updated",
        {
            "player_id": "C-1",
            "status": "passed",
            "updated_at": "2026-11-20T08:00:00Z",
        },
    )
    started = pipeline.deliver_and_run(
        kyc_feed,
        "self_exclusion.started",
        {
            "player_id": "C-1",
            "starts_at": "2026-11-21T00:00:00Z",
            "scheme": "gamstop",
        },
    )
    ended = pipeline.deliver_and_run(
        kyc_feed,
        "self_exclusion.ended",
        {
            "player_id": "C-1",
            "ended_at": "2026-12-21T00:00:00Z",
            "scheme": "gamstop",
        },
    )

    assert {kyc.status, started.status, ended.status} == {Status.PROCESSED}
    record = KycRecord.objects.get(player=player, is_current=True)
    assert (record.status, record.source) == ("passed", "integration:kyc-feed")
    exclusion = SelfExclusion.objects.get(player=player)
    assert exclusion.scheme == "gamstop"
    assert exclusion.ended_at == datetime(2026, 12, 21, tzinfo=UTC)


def test_kyc_for_an_unknown_player_is_parked(pipeline, kyc_feed):
    event = pipeline.deliver_and_run(
        kyc_feed,
        "kyc.updated",
        {
            "player_id": "C-404",
            "status": "passed",
            "updated_at": "2026-11-20T08:00:00Z",
        },
    )
    assert (event.status, event.parked_system, event.parked_external_id) == (
        Status.PARKED,
        "crm",
        "C-404",
    )


# --- the boundary for later reactions ---------------------------------------------------------


def test_a_fact_handler_runs_first_for_every_fact_event_and_none_for_payouts():
    fact_events = registry.EVENT_TYPES - {"payout.confirmed", "payout.failed"}
    for event_type in fact_events:
        first = registry.handlers_for(event_type)[0]
        assert first is getattr(handlers, event_type.replace(".", "_")), event_type
    for event_type in ("payout.confirmed", "payout.failed"):
        assert all(
            handler.__module__ != handlers.__name__ for handler in registry.handlers_for(event_type)
        )


@pytest.fixture
def reaction():
    """A stand-in for a later commission handler, registered after the fact handlers."""
    saved = registry.snapshot()
    seen: list[tuple[int, list[int]]] = []

    def on_deposit(ctx):
        seen.append((ctx.event_id, [d.pk for d in Deposit.objects.recorded_by(ctx.event_id)]))

    registry.register("deposit.created", on_deposit)
    yield seen
    registry.restore(saved)


def test_a_later_reaction_finds_the_fact_of_its_event_once(pipeline, psp, player, reaction):
    first = pipeline.deliver_and_run(psp, "deposit.created", deposit_data("D-1"))
    resent = pipeline.deliver_and_run(psp, "deposit.created", deposit_data("D-1"))

    deposit = Deposit.objects.get()
    assert reaction == [(first.pk, [deposit.pk]), (resent.pk, [])]


def test_a_parked_event_runs_no_reaction_until_the_player_is_known(
    pipeline, psp, licensed_de, reaction
):
    event = pipeline.deliver_and_run(psp, "deposit.created", deposit_data(player_id="P-9"))
    assert event.status == Status.PARKED and reaction == []

    IdentifierMappingFactory(
        system="payments", external_id="P-9"
    )  # mapped directly: nothing un-parks
    assert pipeline.run() == {}
    InboundEvent.objects.filter(pk=event.pk).update(
        status=Status.RECEIVED
    )  # what the sweeper's recheck does
    assert inbound_event_process(event_id=event.pk) == "processed"
    assert reaction == [(event.pk, [Deposit.objects.get().pk])]


def test_a_failing_reaction_rolls_back_the_fact(pipeline, psp, player):
    saved = registry.snapshot()

    def failing_reaction(ctx):
        raise RuntimeError("commission plan missing")

    registry.register("deposit.created", failing_reaction)
    try:
        event = pipeline.deliver_and_run(psp, "deposit.created", deposit_data())
    finally:
        registry.restore(saved)

    assert event.status == Status.FAILED and "commission plan missing" in event.last_error
    assert not Deposit.objects.exists()
