"""The simulated systems' event generation (no HTTP, no database)."""

import datetime as dt
import random
from collections import Counter, defaultdict
from decimal import Decimal

import orjson

from apps.integrations.inbound.schemas import validate_envelope
from apps.sandbox.simulator import Faults, Simulator
from apps.sandbox.world import CRM, DROP, DUPLICATE, ENDPOINTS, SEND

START = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self):
        self.now += dt.timedelta(seconds=1)
        return self.now


def make(seed=7, faults=None, links=("abc123",), clicks=None):
    clicks = clicks if clicks is not None else []

    def click(code):
        token = f"token-{code}-{len(clicks)}"
        clicks.append(token)
        return token

    return Simulator(
        rng=random.Random(seed),
        clock=Clock(),
        link_codes=links,
        click=click,
        faults=faults or Faults.none(),
        run_tag="t",
    )


def play(sim, steps):
    events = []
    for _ in range(steps):
        events.extend(sim.step())
    return events


def test_every_event_is_a_valid_envelope_for_the_kind_of_system_that_sends_it():
    events = play(make(), 1500)
    types = Counter(e.event_type for e in events)
    # Every kind of happening the issue names is played.
    assert set(types) >= {
        "player.registered",
        "deposit.created",
        "revenue.reported",
        "trade.closed",
        "kyc.updated",
        "purchase.created",
        "purchase.refunded",
        "chargeback.created",
        "self_exclusion.started",
        "self_exclusion.ended",
    }
    for event in events:
        kind = ENDPOINTS[event.slug][0]
        result = validate_envelope(orjson.loads(event.body), kind=kind)
        assert result.is_valid, (event.event_type, result.errors)
        assert event.fate == SEND


def test_registrations_come_from_tracking_link_clicks_or_are_organic():
    clicks = []
    events = play(make(clicks=clicks), 400)
    registrations = [e.envelope["data"] for e in events if e.event_type == "player.registered"]
    referred = [d for d in registrations if "tracking_token" in d]
    assert clicks and len(referred) == len(clicks)
    assert {d["tracking_token"] for d in referred} == set(clicks)
    assert 0 < len(referred) < len(registrations)  # organic players too


def test_no_links_means_organic_registrations_only():
    events = play(make(links=()), 200)
    registrations = [e.envelope["data"] for e in events if e.event_type == "player.registered"]
    assert registrations and not any("tracking_token" in d for d in registrations)


def test_deposits_and_trades_refer_to_identifiers_announced_at_registration():
    events = play(make(), 800)
    announced = defaultdict(set)
    for e in events:
        if e.event_type == "player.registered":
            d = e.envelope["data"]
            announced["crm"].add(d["player_id"])
            for system, value in d.get("identifiers", {}).items():
                announced[system].add(value)
    for e in events:
        d = e.envelope["data"]
        system = ENDPOINTS[e.slug][1]
        if e.event_type == "trade.closed":
            assert d["login"] in announced["mt5-live"]
        elif "player_id" in d and e.event_type != "player.registered":
            assert d["player_id"] in announced[system], (e.event_type, system)


def test_partial_closes_never_exceed_the_opened_volume():
    events = play(make(), 3000)
    opened, closed, entries = {}, defaultdict(Decimal), Counter()
    for e in events:
        if e.event_type != "trade.closed":
            continue
        d = e.envelope["data"]
        entries[d["position_id"]] += 1
        if d["entry"] == "in":
            opened[d["position_id"]] = Decimal(d["volume_lots"])
        else:
            closed[d["position_id"]] += Decimal(d["volume_lots"])
            assert d["position_id"] in opened
    assert closed
    for position_id, lots in closed.items():
        assert lots <= opened[position_id]
    # Some positions were closed in several parts, some completely.
    assert any(count >= 3 for count in entries.values())
    assert any(closed[p] == opened[p] for p in closed)


def test_revenue_for_a_day_is_sometimes_restated_with_a_new_report():
    events = play(make(), 1500)
    by_day = defaultdict(set)
    for e in events:
        if e.event_type == "revenue.reported":
            d = e.envelope["data"]
            by_day[(d["player_id"], d["date"])].add(d["report_id"])
            assert Decimal(d["stakes"]) >= 0 and Decimal(d["winnings"]) >= 0
    assert any(len(reports) > 1 for reports in by_day.values())


def test_refunds_and_chargebacks_refer_to_earlier_purchases_and_deposits():
    events = play(make(), 2000)
    purchases, deposits = set(), set()
    for e in events:
        d = e.envelope["data"]
        if e.event_type == "purchase.created":
            purchases.add(d["purchase_id"])
        elif e.event_type == "purchase.refunded":
            assert d["purchase_id"] in purchases
        elif e.event_type == "deposit.created":
            deposits.add(d["deposit_id"])
        elif e.event_type == "chargeback.created":
            assert d["deposit_id"] in deposits


def test_faults_duplicate_drop_and_malform_in_the_configured_shares():
    sim = make(seed=3, faults=Faults(duplicate=0.1, drop=0.05, out_of_order=0, invalid=0.05))
    events = play(sim, 4000)
    fates = Counter(e.fate for e in events)
    total = len(events)
    assert 0.07 < fates[DUPLICATE] / total < 0.13
    assert 0.03 < fates[DROP] / total < 0.07
    malformed = [e for e in events if isinstance(e.envelope["data"].get("amount"), float)]
    assert malformed
    for e in malformed:
        assert not validate_envelope(orjson.loads(e.body), kind=ENDPOINTS[e.slug][0]).is_valid


def test_out_of_order_sends_the_first_deposit_before_the_registration():
    sim = make(faults=Faults(duplicate=0, drop=0, out_of_order=1.0, invalid=0))
    events = sim.step()  # the first step always registers someone
    assert [e.event_type for e in events] == ["deposit.created", "player.registered"]
    deposit, registration = events
    assert deposit.occurred_at > registration.occurred_at  # it happened later but arrives first
    reg = registration.envelope["data"]
    known = {reg["player_id"], *reg.get("identifiers", {}).values()}
    assert deposit.envelope["data"]["player_id"] in known
    assert registration.slug == CRM


def test_same_seed_same_traffic_and_unique_webhook_ids():
    first = [(e.slug, e.webhook_id, e.body) for e in play(make(seed=11), 300)]
    second = [(e.slug, e.webhook_id, e.body) for e in play(make(seed=11), 300)]
    assert first == second
    assert len({webhook_id for _, webhook_id, _ in first}) == len(first)


def test_a_long_run_keeps_only_the_newest_players_in_memory():
    from apps.sandbox.simulator import ACTIVE_PLAYERS

    sim = make()
    registered = sum(e.event_type == "player.registered" for e in play(sim, 20_000))
    assert registered > 2 * ACTIVE_PLAYERS  # enough registrations to have trimmed
    assert len(sim.players) <= 2 * ACTIVE_PLAYERS


def test_the_fraud_ring_shares_one_device_on_one_link_and_deposits_the_minimum_once():
    """Issue 17 §8: the ring the risk queue must catch in `make run`."""
    from apps.sandbox.simulator import RING_SIZE

    sim = make(links=("ring01", "other2", "other3"))
    events = play(sim, 2000)
    registrations = [e.envelope["data"] for e in events if e.event_type == "player.registered"]
    ring = [d for d in registrations if d["device_hash"] == sim.ring_device]
    assert len(ring) == RING_SIZE == sim.ring_members
    assert {d["tracking_token"].split("-")[1] for d in ring} == {sim.ring_link}
    ids = {d["player_id"] for d in ring}
    ring_players = [p for p in sim.players if p.crm_id in ids]
    assert all(len(p.deposits) == 1 and p.deposits[0][1] == Decimal("20.00") for p in ring_players)
    deposits = [
        e.envelope["data"]
        for e in events
        if e.event_type == "deposit.created"
        and e.envelope["data"].get("device_hash") == sim.ring_device
    ]
    assert len(deposits) == RING_SIZE
    # Everybody else has a device of their own.
    others = [d["device_hash"] for d in registrations if d["device_hash"] != sim.ring_device]
    assert len(others) == len(set(others))
