from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from apps.core.models import AuditLog
from apps.integrations.models import InboundEvent
from apps.mappings.models import IdentifierMapping, ResolutionStat
from apps.mappings.selectors import player_identifiers, resolution_miss_rates
from apps.mappings.services import (
    IdentifierConflict,
    MappingError,
    mapping_create,
    mapping_replace,
    mapping_retire,
    resolution_stats_flush,
    resolve_player,
)
from tests.factories import IdentifierMappingFactory, PlayerFactory

pytestmark = pytest.mark.django_db


def stats(system):
    resolution_stats_flush()
    rows = ResolutionStat.objects.filter(system=system)
    return sum(r.lookups for r in rows), sum(r.misses for r in rows)


def test_resolve_exact_match_and_counts_hits_and_misses():
    mapping = IdentifierMappingFactory(system="crm", external_id="C-1")
    assert resolve_player(system="crm", external_id="C-1") == mapping.player
    assert resolve_player(system="crm", external_id="C-2") is None
    assert resolve_player(system="crm", external_id="c-1") is None  # exact, case-sensitive
    assert stats("crm") == (3, 2)
    assert resolution_miss_rates(since=datetime(2000, 1, 1, tzinfo=UTC)) == [
        {"system": "crm", "lookups": 3, "misses": 2, "miss_rate": 2 / 3}
    ]


def test_resolution_counts_per_hour_bucket():
    resolve_player(system="payments", external_id="x")
    resolution_stats_flush()
    row = ResolutionStat.objects.get(system="payments")
    assert (row.hour.minute, row.hour.second, row.hour.microsecond) == (0, 0, 0)


def test_resolve_never_falls_back_to_other_systems_or_retired_mappings():
    player = PlayerFactory()
    IdentifierMappingFactory(player=player, system="crm", external_id="alice@example.com")
    retired = IdentifierMappingFactory(player=player, system="mt5-live", external_id="800123")
    mapping_retire(mapping=retired, reason="login closed")
    # The same value in another system, an e-mail-looking id, a retired login: all misses.
    assert resolve_player(system="payments", external_id="alice@example.com") is None
    assert resolve_player(system="mt5-live", external_id="800123") is None
    assert stats("payments") == (1, 1) and stats("mt5-live") == (1, 1)


def test_unique_active_identifier_is_a_database_constraint():
    IdentifierMappingFactory(system="crm", external_id="C-9")
    with pytest.raises(IntegrityError), transaction.atomic():
        IdentifierMappingFactory(system="crm", external_id="C-9")
    # The same external id in another system is a different identifier.
    IdentifierMappingFactory(system="payments", external_id="C-9")


def test_retired_identifier_can_be_mapped_again_and_history_stays():
    old = IdentifierMappingFactory(system="crm", external_id="C-5")
    mapping_retire(mapping=old, reason="CRM merged duplicate accounts")
    new_player = PlayerFactory()
    new = mapping_create(player=new_player, system="crm", external_id="C-5", source="test")
    assert resolve_player(system="crm", external_id="C-5") == new_player
    old.refresh_from_db()
    assert old.retired_reason == "CRM merged duplicate accounts" and old.retired_at is not None
    assert IdentifierMapping.objects.filter(system="crm", external_id="C-5").count() == 2
    assert new.pk != old.pk


def test_mapping_retire_is_audited_and_needs_a_reason():
    mapping = IdentifierMappingFactory()
    with pytest.raises(MappingError, match="reason"):
        mapping_retire(mapping=mapping, reason=" ")
    mapping_retire(mapping=mapping, reason="wrong player")
    row = AuditLog.objects.get(action="mapping.retired", object_id=str(mapping.pk))
    assert row.reason == "wrong player"
    with pytest.raises(MappingError, match="already retired"):
        mapping_retire(mapping=mapping, reason="again")


def test_mapping_create_conflict_and_validation():
    IdentifierMappingFactory(system="crm", external_id="C-1")
    with pytest.raises(IdentifierConflict) as exc:
        mapping_create(player=PlayerFactory(), system="crm", external_id="C-1")
    assert exc.value.conflicts == [("crm", "C-1")]
    with pytest.raises(MappingError):
        mapping_create(player=PlayerFactory(), system="CRM System", external_id="1")
    with pytest.raises(MappingError):
        mapping_create(player=PlayerFactory(), system="crm", external_id="   ")


def test_mapping_replace_retires_and_creates_successor():
    mapping = IdentifierMappingFactory(system="mt5-live", external_id="1001")
    other = PlayerFactory()
    successor = mapping_replace(
        mapping=mapping, reason="login belongs to the other account", player=other
    )
    mapping.refresh_from_db()
    assert mapping.retired_at is not None
    assert (successor.player, successor.system, successor.external_id) == (
        other,
        "mt5-live",
        "1001",
    )
    assert resolve_player(system="mt5-live", external_id="1001") == other


def test_mapping_create_unparks_waiting_events(parked_event):
    event = parked_event(system="payments", external_id="P-77")
    mapping_create(player=PlayerFactory(), system="payments", external_id="P-77", source="admin")
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.RECEIVED


def test_player_identifiers_lists_active_ones_by_system():
    player = PlayerFactory()
    IdentifierMappingFactory(player=player, system="mt5-live", external_id="1")
    IdentifierMappingFactory(player=player, system="mt5-live", external_id="2")
    retired = IdentifierMappingFactory(player=player, system="crm", external_id="C")
    mapping_retire(mapping=retired, reason="x")
    assert player_identifiers(player=player) == {"mt5-live": ["1", "2"]}
