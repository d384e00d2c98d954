"""Each rule, positive and negative, with its parameters at their edges (issue 17 §1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import CommissionEntry
from apps.players.facts import Deposit, RevenueReport
from apps.risk.models import AffiliateIdentityValue
from apps.risk.rules import EventFacts, NightlyFacts, rule_modules
from tests.factories import AffiliateFactory, ClickFactory

from .conftest import AT, attributed, identity

pytestmark = pytest.mark.django_db
RULES = rule_modules()


def run(code, player, *, params=None, trigger="registration", **facts):
    module = RULES[code]
    return module.evaluate(
        EventFacts(trigger=trigger, player=player, now=AT, **facts),
        {**module.DEFAULTS, **(params or {})},
    )


def test_every_rule_documents_its_definition_and_parameters():
    for code, module in RULES.items():
        doc = module.__doc__ or ""
        assert "Definition" in doc and "Parameters" in doc, code
        for name in module.DEFAULTS:
            assert f"`{name}`" in doc, (code, name)


# --- duplicate identity --------------------------------------------------------------------


def test_duplicate_identity_fires_when_min_players_share_a_value_and_names_them():
    affiliate = AffiliateFactory()
    first, second = attributed(affiliate), attributed(affiliate)
    identity(first, device_hash="dev-0123456789abcdef")
    new = identity(second, device_hash="dev-0123456789abcdef", ip_hash="ip-unique-1")
    [finding] = run("duplicate_identity", second, identity_values=new)
    assert finding.affiliate_id == affiliate.pk
    assert set(finding.players) == {first.pk, second.pk}
    assert finding.evidence["value"] == "dev-…cdef"  # masked, never the value
    assert "dev-0123456789abcdef" not in str(finding.evidence)


def test_duplicate_identity_below_min_players_or_on_an_ignored_kind_does_not_fire():
    affiliate = AffiliateFactory()
    first, second = attributed(affiliate), attributed(affiliate)
    identity(first, device_hash="shared-device-hash")
    new = identity(second, device_hash="shared-device-hash")
    assert run("duplicate_identity", second, identity_values=new, params={"min_players": 3}) == []
    assert (
        run("duplicate_identity", second, identity_values=new, params={"kinds": ["ip_hash"]}) == []
    )
    third = attributed(affiliate)
    new = identity(third, device_hash="shared-device-hash")
    # The edge: exactly min_players sharers fire.
    assert (
        len(run("duplicate_identity", third, identity_values=new, params={"min_players": 3})) == 1
    )


def test_duplicate_identity_across_affiliates_signals_each_affiliate_with_its_own_players():
    a, b = AffiliateFactory(), AffiliateFactory()
    pa, pb = attributed(a), attributed(b)
    identity(pa, payment_fingerprint="card-fp-000111222")
    new = identity(pb, payment_fingerprint="card-fp-000111222")
    findings = run("duplicate_identity", pb, identity_values=new, trigger="deposit")
    assert {(f.affiliate_id, f.players) for f in findings} == {(a.pk, (pa.pk,)), (b.pk, (pb.pk,))}


# --- self-referral -------------------------------------------------------------------------


def test_self_referral_fires_on_a_value_of_the_affiliates_own_identity_only():
    affiliate = AffiliateFactory()
    AffiliateIdentityValue.objects.create(
        affiliate=affiliate,
        kind="payment_fingerprint",
        value="aff-card-fp-1",
        source="payout_destination",
    )
    player = attributed(affiliate)
    [finding] = run(
        "self_referral",
        player,
        trigger="deposit",
        identity_values=identity(player, payment_fingerprint="aff-card-fp-1"),
    )
    assert finding.evidence["affiliate_source"] == "payout_destination"
    other = attributed(AffiliateFactory())  # another affiliate's player with the same value
    assert (
        run(
            "self_referral",
            other,
            identity_values=identity(other, payment_fingerprint="aff-card-fp-1"),
        )
        == []
    )
    same_kind_other_value = attributed(affiliate)
    assert (
        run(
            "self_referral",
            same_kind_other_value,
            identity_values=identity(same_kind_other_value, payment_fingerprint="aff-card-fp-2"),
        )
        == []
    )
    assert (
        run(
            "self_referral",
            player,
            identity_values=identity(attributed(affiliate), payment_fingerprint="aff-card-fp-1"),
            params={"kinds": ["device_hash"]},
        )
        == []
    )


# --- click rules ---------------------------------------------------------------------------


def test_click_token_reuse_fires_past_max_players_per_click():
    click = ClickFactory(created_at=AT - dt.timedelta(hours=1))
    affiliate = click.link.affiliate
    first = attributed(affiliate, click=click, registered_at=AT)
    assert run("click_token_reuse", first) == []
    second = attributed(affiliate, click=click, registered_at=AT)
    [finding] = run("click_token_reuse", second)
    assert set(finding.players) == {first.pk, second.pk}
    assert run("click_token_reuse", second, params={"max_players": 2}) == []  # edge: exactly 2


def test_click_too_fast_fires_under_min_seconds_not_at_it():
    click = ClickFactory(created_at=AT)
    affiliate = click.link.affiliate
    fast = attributed(affiliate, click=click, registered_at=AT + dt.timedelta(seconds=9))
    exact = attributed(
        affiliate, click=ClickFactory(created_at=AT), registered_at=AT + dt.timedelta(seconds=10)
    )
    assert len(run("click_too_fast", fast, params={"min_seconds": 10})) == 1
    assert run("click_too_fast", exact, params={"min_seconds": 10}) == []
    assert run("click_too_fast", attributed(affiliate)) == []  # no click: nothing to compare


def test_click_too_late_fires_beyond_the_window_not_at_it():
    affiliate = AffiliateFactory()
    at_window = attributed(
        affiliate, click=ClickFactory(created_at=AT - dt.timedelta(days=30)), registered_at=AT
    )
    beyond = attributed(
        affiliate,
        click=ClickFactory(created_at=AT - dt.timedelta(days=30, seconds=1)),
        registered_at=AT,
    )
    assert run("click_too_late", at_window, params={"window_days": 30}) == []
    [finding] = run("click_too_late", beyond, params={"window_days": 30})
    assert finding.players == (beyond.pk,)


# --- geo mismatch --------------------------------------------------------------------------


def test_geo_mismatch_compares_the_click_country_where_known():
    affiliate = AffiliateFactory()
    mismatch = attributed(affiliate, click=ClickFactory(country="BR"), country="DE")
    same = attributed(affiliate, click=ClickFactory(country="DE"), country="DE")
    unknown = attributed(affiliate, click=ClickFactory(country=""), country="DE")
    [finding] = run("geo_mismatch", mismatch)
    assert finding.evidence == {
        "click": mismatch.click_id,
        "click_country": "BR",
        "registration_country": "DE",
    }
    assert run("geo_mismatch", same) == []
    assert run("geo_mismatch", unknown) == []
    assert run("geo_mismatch", mismatch, params={"ignore_countries": ["BR"]}) == []


def test_the_click_records_the_country_from_the_configured_edge_header(client, settings):
    from tests.factories import TrackingLinkFactory

    link = TrackingLinkFactory()
    settings.AFFILIATEHUB_CLICK_COUNTRY_HEADER = "CF-IPCountry"
    assert client.get(f"/t/{link.code}/", HTTP_CF_IPCOUNTRY="br").status_code == 302
    assert client.get(f"/t/{link.code}/", HTTP_CF_IPCOUNTRY="XX1").status_code == 302
    settings.AFFILIATEHUB_CLICK_COUNTRY_HEADER = ""
    assert client.get(f"/t/{link.code}/", HTTP_CF_IPCOUNTRY="FR").status_code == 302
    assert list(link.clicks.order_by("pk").values_list("country", flat=True)) == ["BR", "", ""]


# --- velocity ------------------------------------------------------------------------------


def _ftd(player, at, amount="50"):
    return Deposit.objects.create(
        player=player,
        system="payments",
        deposit_id=f"D{player.pk}",
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=at,
        is_first=True,
    )


def test_velocity_fires_above_n_times_the_baseline_not_at_it():
    affiliate = AffiliateFactory()
    # Baseline: 168 FTDs over the 7 days before the hour = 1 per hour.
    for i in range(168):
        _ftd(attributed(affiliate), AT - dt.timedelta(hours=2, minutes=i * 60))
    hour = [_ftd(attributed(affiliate), AT - dt.timedelta(minutes=50 - i)) for i in range(5)]
    last = hour[-1]
    # 5 in the hour against 1/h: exactly 5x does not fire, 4x does.
    assert (
        run(
            "velocity",
            last.player,
            trigger="deposit",
            deposit=last,
            params={"multiplier": 5, "min_count": 1},
        )
        == []
    )
    [finding] = run(
        "velocity",
        last.player,
        trigger="deposit",
        deposit=last,
        params={"multiplier": 4, "min_count": 1},
    )
    assert set(finding.players) == {d.player_id for d in hour}
    assert finding.evidence["baseline_per_hour"] == "1.0000"


def test_velocity_respects_min_count_and_the_baseline_floor_and_only_looks_at_first_deposits():
    affiliate = AffiliateFactory()
    hour = [_ftd(attributed(affiliate), AT - dt.timedelta(minutes=30 - i)) for i in range(3)]
    last = hour[-1]
    params = {"multiplier": 5, "min_count": 3, "min_baseline": 0.5}
    # No history: baseline floor 0.5/h, 3 > 2.5 fires; min_count 4 does not.
    assert len(run("velocity", last.player, trigger="deposit", deposit=last, params=params)) == 1
    assert (
        run(
            "velocity",
            last.player,
            trigger="deposit",
            deposit=last,
            params={**params, "min_count": 4},
        )
        == []
    )
    assert (
        run(
            "velocity",
            last.player,
            trigger="deposit",
            deposit=last,
            params={**params, "min_baseline": 0.6},
        )
        == []
    )
    later = Deposit.objects.create(
        player=last.player,
        system="payments",
        deposit_id="again",
        amount=Decimal(10),
        currency="EUR",
        occurred_at=AT,
        is_first=False,
    )
    assert run("velocity", last.player, trigger="deposit", deposit=later, params=params) == []


# --- CPA farming ---------------------------------------------------------------------------


def _cpa(player, qualified_at, amount="200"):
    return CommissionEntry.objects.create(
        kind="cpa",
        affiliate=player.affiliate,
        player=player,
        idempotency_key=f"cpa:{player.pk}",
        period=qualified_at.date().replace(day=1),
        occurred_at=qualified_at,
        amount=Decimal(amount),
        currency="EUR",
        status="pending",
        approve_after=qualified_at,
    )


def _farming(now, params=None):
    module = RULES["cpa_farming"]
    return module.evaluate(
        NightlyFacts(trigger="nightly", now=now), {**module.DEFAULTS, **(params or {})}
    )


def test_cpa_farming_counts_minimum_depositors_without_activity_and_fires_at_the_share():
    affiliate = AffiliateFactory()
    qualified = AT
    farmed = []
    for _ in range(3):
        p = attributed(affiliate)
        _ftd(p, qualified - dt.timedelta(minutes=5), amount="20")  # at the threshold: counts
        _cpa(p, qualified)
        farmed.append(p)
    for _ in range(3):  # played after qualifying: not farmed
        p = attributed(affiliate)
        _ftd(p, qualified - dt.timedelta(minutes=5), amount="20")
        _cpa(p, qualified)
        RevenueReport.objects.create(
            player=p,
            system="crm",
            report_id=f"R{p.pk}",
            date=(qualified + dt.timedelta(days=2)).date(),
            currency="EUR",
            stakes=Decimal(100),
            winnings=Decimal(50),
            occurred_at=qualified,
            is_current=True,
        )
    now = qualified + dt.timedelta(days=8)
    [finding] = _farming(
        now, {"min_share": 0.5, "min_cpas": 3, "max_deposit": 20, "inactive_days": 7}
    )
    assert set(finding.players) == {p.pk for p in farmed}
    assert finding.evidence["share"] == "0.5000"
    assert _farming(now, {"min_share": 0.51}) == []  # share just under
    assert _farming(now, {"min_cpas": 4}) == []
    assert _farming(now, {"max_deposit": 19.99}) == []  # 20 is above this threshold
    # Too recent: the inactivity window has not passed yet.
    assert _farming(qualified + dt.timedelta(days=6), {"inactive_days": 7}) == []
