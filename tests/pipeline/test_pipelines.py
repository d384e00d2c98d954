"""The one declaration of every event type's pipeline (apps/pipeline/pipelines.py), and the
registry running exactly it."""

import pytest

from apps.commissions import handlers as commissions
from apps.integrations.inbound import registry
from apps.integrations.inbound.schemas import EVENT_SERIALIZERS
from apps.mappings import handlers as facts
from apps.pipeline.pipelines import PIPELINES
from apps.postbacks import handlers as postbacks
from apps.risk import handlers as risk


def test_deposit_created_runs_the_fact_then_its_reactions_in_the_declared_order():
    assert PIPELINES["deposit.created"] == (
        facts.deposit_created,
        postbacks.first_deposit_postbacks,
        commissions.deposit_created,
        postbacks.qualified_cpa_postbacks,
        risk.deposit_created,
    )


def test_a_registration_is_announced_after_it_is_recorded_and_before_the_risk_rules():
    """player.attributed and the registration postback come from the postbacks step, which reads
    the Player the registration handler recorded."""
    assert PIPELINES["player.registered"] == (
        facts.player_registered,
        postbacks.player_registered,
        risk.player_registered,
    )


@pytest.mark.parametrize(
    ("event_type", "fact", "commission"),
    [
        ("revenue.reported", facts.revenue_reported, commissions.revenue_reported),
        ("kyc.updated", facts.kyc_updated, commissions.kyc_updated),
    ],
)
def test_an_event_that_can_qualify_a_cpa_fires_its_postback_after_the_commission_step(
    event_type, fact, commission
):
    assert PIPELINES[event_type] == (
        fact,
        commission,
        postbacks.qualified_cpa_postbacks,
        risk.hold_new_lines,
    )


def test_postback_steps_run_only_where_declared():
    """Every postbacks step, and only those, in the one declaration: nothing fires from a hidden
    place for the other event types."""
    steps = {
        event_type: [h.__name__ for h in handlers if h.__module__ == "apps.postbacks.handlers"]
        for event_type, handlers in PIPELINES.items()
    }
    assert {event_type: names for event_type, names in steps.items() if names} == {
        "player.registered": ["player_registered"],
        "deposit.created": ["first_deposit_postbacks", "qualified_cpa_postbacks"],
        "revenue.reported": ["qualified_cpa_postbacks"],
        "kyc.updated": ["qualified_cpa_postbacks"],
    }


def test_the_risk_steps_come_after_every_other_handler():
    """The rules see what the event recorded, and their holds commit with it (issue 17 §4)."""
    assert PIPELINES["player.registered"][-1] is risk.player_registered
    for event_type in ("revenue.reported", "kyc.updated"):
        assert PIPELINES[event_type][-1] is risk.hold_new_lines, event_type


def test_every_event_type_of_the_wire_schema_has_a_pipeline():
    assert set(PIPELINES) == set(EVENT_SERIALIZERS) == registry.EVENT_TYPES
    assert all(PIPELINES[event_type] for event_type in EVENT_SERIALIZERS)


def test_the_registry_runs_exactly_the_declared_pipelines():
    assert {
        event_type: registry.handlers_for(event_type) for event_type in registry.EVENT_TYPES
    } == PIPELINES


def test_every_fact_event_starts_with_its_fact_handler():
    for event_type, handlers in PIPELINES.items():
        if not event_type.startswith("payout."):
            assert handlers[0].__module__ == "apps.mappings.handlers", event_type


def test_install_refuses_a_declaration_that_misses_or_invents_an_event_type():
    saved = registry.snapshot()
    try:
        with pytest.raises(ValueError, match=r"No pipeline declared for: trade\.closed"):
            registry.install({t: h for t, h in PIPELINES.items() if t != "trade.closed"})
        with pytest.raises(ValueError, match=r"unknown event types: deposit\.made"):
            registry.install({**PIPELINES, "deposit.made": ()})
        with pytest.raises(TypeError):
            registry.install({**PIPELINES, "trade.closed": ("not a handler",)})
    finally:
        registry.restore(saved)
    assert {
        event_type: registry.handlers_for(event_type) for event_type in registry.EVENT_TYPES
    } == PIPELINES
