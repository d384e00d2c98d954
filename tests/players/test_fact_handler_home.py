"""Fact handlers live with their facts (issue 14 §3): the pipelines run apps.mappings'
resolution composed with the recording handler of the app that owns the fact."""

from apps.compliance import handlers as compliance_facts
from apps.mappings import handlers as mappings
from apps.pipeline.pipelines import PIPELINES
from apps.players import handlers as player_facts

OWNERS = {
    "deposit.created": player_facts,
    "revenue.reported": player_facts,
    "trade.closed": player_facts,
    "purchase.created": player_facts,
    "purchase.refunded": player_facts,
    "chargeback.created": player_facts,
    "kyc.updated": compliance_facts,
    "self_exclusion.started": compliance_facts,
    "self_exclusion.ended": compliance_facts,
}


def test_each_fact_is_recorded_by_the_app_that_owns_it():
    assert set(OWNERS) == set(mappings.FACT_EVENT_TYPES)
    for event_type, owner in OWNERS.items():
        first = PIPELINES[event_type][0]
        assert first.__wrapped__.__module__ == owner.__name__, event_type
        assert first.__name__ == first.__wrapped__.__name__


def test_trades_name_their_player_by_login_the_others_by_player_id():
    fields = {t: PIPELINES[t][0].__wrapped__.player_field for t in OWNERS}
    assert fields.pop("trade.closed") == "login"
    assert set(fields.values()) == {"player_id"}
