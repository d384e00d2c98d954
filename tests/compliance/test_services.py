from datetime import UTC, datetime, timedelta

import pytest

from apps.compliance.models import BrandLicence, KycRecord, SelfExclusion
from apps.compliance.selectors import brand_is_licensed, kyc_current_status, player_is_self_excluded
from apps.compliance.services import (
    ComplianceError,
    brand_licence_set,
    kyc_record_update,
    self_exclusion_end,
    self_exclusion_start,
)
from apps.core.models import AuditLog
from tests.factories import BrandLicenceFactory, JurisdictionFactory, PlayerFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_brand_is_licensed_only_with_an_active_licence():
    BrandLicenceFactory(brand="spinpalace", country=JurisdictionFactory(code="DE"))
    BrandLicenceFactory(brand="spinpalace", country=JurisdictionFactory(code="NL"), is_active=False)
    assert brand_is_licensed("spinpalace", "DE") is True
    assert brand_is_licensed("spinpalace", "de") is True
    assert brand_is_licensed("spinpalace", "NL") is False
    assert brand_is_licensed("spinpalace", "FR") is False
    assert brand_is_licensed("otherbrand", "DE") is False


def test_brand_licence_set_upserts_and_audits():
    JurisdictionFactory(code="SE")
    licence = brand_licence_set(brand="goldbet", country="se", is_active=True, note="SGA 18Li123")
    brand_licence_set(brand="goldbet", country="SE", is_active=False)
    licence.refresh_from_db()
    assert BrandLicence.objects.count() == 1 and licence.is_active is False
    rows = AuditLog.objects.filter(action="brand_licence.set", object_id=str(licence.pk)).order_by(
        "id"
    )
    assert [r.after["is_active"] for r in rows] == [True, False]
    with pytest.raises(ComplianceError, match="Unknown jurisdiction"):
        brand_licence_set(brand="goldbet", country="ZZ", is_active=True)


def test_kyc_latest_wins_and_late_reports_are_kept_as_history():
    player = PlayerFactory()
    kyc_record_update(player=player, status="pending", occurred_at=T0, source="sumsub")
    kyc_record_update(
        player=player, status="passed", occurred_at=T0 + timedelta(hours=2), source="sumsub"
    )
    late = kyc_record_update(
        player=player, status="failed", occurred_at=T0 + timedelta(hours=1), source="sumsub"
    )
    assert kyc_current_status(player=player) == "passed"
    assert late.is_current is False
    assert list(
        KycRecord.objects.filter(player=player)
        .order_by("updated_at")
        .values_list("status", "is_current")
    ) == [("pending", False), ("failed", False), ("passed", True)]
    assert AuditLog.objects.filter(action="kyc.late_report_stored", object_id=str(late.pk)).exists()
    assert AuditLog.objects.filter(action="kyc.updated").count() == 2


def test_kyc_same_report_twice_is_one_row():
    player = PlayerFactory()
    first = kyc_record_update(player=player, status="passed", occurred_at=T0, source="sumsub")
    again = kyc_record_update(player=player, status="passed", occurred_at=T0, source="sumsub")
    assert first.pk == again.pk
    assert KycRecord.objects.count() == 1


def test_kyc_refuses_unknown_status_and_naive_time():
    player = PlayerFactory()
    with pytest.raises(ComplianceError, match="Unknown KYC status"):
        kyc_record_update(player=player, status="approved", occurred_at=T0, source="x")
    with pytest.raises(ComplianceError, match="timezone-aware"):
        kyc_record_update(
            player=player, status="passed", occurred_at=T0.replace(tzinfo=None), source="x"
        )
    assert kyc_current_status(player=player) is None


def test_self_exclusion_start_is_idempotent_and_in_force():
    player = PlayerFactory()
    first = self_exclusion_start(
        player=player,
        starts_at=T0,
        ends_at=T0 + timedelta(days=180),
        scheme="gamstop",
        source="gamstop-feed",
    )
    again = self_exclusion_start(
        player=player, starts_at=T0, scheme="gamstop", source="gamstop-feed"
    )
    assert first.pk == again.pk and SelfExclusion.objects.count() == 1
    assert AuditLog.objects.filter(action="self_exclusion.started").count() == 1
    assert player_is_self_excluded(player=player, at=T0 - timedelta(seconds=1)) is False
    assert player_is_self_excluded(player=player, at=T0) is True
    assert player_is_self_excluded(player=player, at=T0 + timedelta(days=181)) is False


def test_self_exclusion_end_ends_open_ones_once():
    player = PlayerFactory()
    self_exclusion_start(player=player, starts_at=T0, source="operator")
    later = self_exclusion_start(
        player=player, starts_at=T0 + timedelta(days=30), scheme="gamstop", source="gamstop"
    )
    ended = self_exclusion_end(player=player, ended_at=T0 + timedelta(days=10), source="operator")
    assert [e.scheme for e in ended] == ["operator"]  # the later one had not started yet
    assert (
        self_exclusion_end(player=player, ended_at=T0 + timedelta(days=10), source="operator") == []
    )
    later.refresh_from_db()
    assert later.ended_at is None
    assert player_is_self_excluded(player=player, at=T0 + timedelta(days=5)) is True
    assert player_is_self_excluded(player=player, at=T0 + timedelta(days=20)) is False
    assert AuditLog.objects.filter(action="self_exclusion.ended").count() == 1


def test_self_exclusion_refuses_end_before_start():
    with pytest.raises(ComplianceError, match="end after it starts"):
        self_exclusion_start(player=PlayerFactory(), starts_at=T0, ends_at=T0, source="x")
