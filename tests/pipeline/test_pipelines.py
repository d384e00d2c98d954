"""The one declaration of every event type's pipeline (apps/pipeline/pipelines.py), and the
registry running exactly it."""

import pytest

from apps.commissions import handlers as commissions
from apps.commissions import postbacks as commission_postbacks
from apps.integrations.inbound import registry
from apps.integrations.inbound.schemas import EVENT_SERIALIZERS
from apps.mappings import handlers as facts
from apps.mappings import postbacks as mapping_postbacks
from apps.pipeline.pipelines import PIPELINES
from apps.risk import handlers as risk


def test_deposit_created_runs_the_fact_then_its_reactions_in_the_declared_order():
    assert PIPELINES["deposit.created"] == (
        facts.deposit_created,
        mapping_postbacks.first_deposit_postbacks,
        commissions.deposit_created,
        commission_postbacks.qualified_cpa_postbacks,
        risk.deposit_created,
    )


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
