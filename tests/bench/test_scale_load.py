"""The scale benchmark's COPY load writes what processing its events writes (issue 18 §2).

The benchmark measures on tables it filled without running the pipeline; the figures mean
something only if those rows are the ones the pipeline would have recorded. So: load two
players' blocks with COPY, keep the facts, delete them, process the same stored events through
the real pipeline and compare.
"""

import datetime as dt

import pytest

from apps.integrations.inbound.services import inbound_events_process_sequence
from apps.integrations.models import InboundEvent, InboundEventKey
from apps.mappings.models import IdentifierMapping
from apps.players.fact_keys import RevenueReportKey, TradeKey
from apps.players.models import Deposit, Player, RevenueReport, Trade
from bench import scale_load
from tests.integrations.factories import IntegrationFactory
from tests.libpq import test_database_conninfo

pytestmark = pytest.mark.django_db(transaction=True)


def _facts() -> dict[str, set]:
    """Every player and fact as processing would key it: by the sender's ids, not the hub's."""
    crm_of = dict(
        IdentifierMapping.objects.filter(system="crm").values_list("player_id", "external_id")
    )

    def rows(model, *fields: str) -> set[tuple]:
        """The fields of every row, the player named by its CRM id."""
        return {
            (crm_of[player_id], *values)
            for player_id, *values in model.objects.values_list("player_id", *fields)
        }

    return {
        "players": {
            (crm_of[pk], *values)
            for pk, *values in Player.objects.values_list(
                "pk",
                "brand",
                "country",
                "registered_at",
                "attribution_status",
                "attribution_note",
                "affiliate_id",
            )
        },
        "mappings": rows(IdentifierMapping, "system", "external_id"),
        "deposits": rows(
            Deposit,
            "system",
            "deposit_id",
            "amount",
            "currency",
            "occurred_at",
            "is_first",
            "source_event_id",
        ),
        "revenue": rows(
            RevenueReport,
            "system",
            "report_id",
            "date",
            "stakes",
            "winnings",
            "bonuses",
            "is_current",
            "occurred_at",
            "source_event_id",
        ),
        "trades": rows(
            Trade,
            "system",
            "platform",
            "server",
            "deal_id",
            "login",
            "position_id",
            "symbol",
            "volume_lots",
            "entry",
            "profit",
            "currency",
            "closed_at",
            "source_event_id",
        ),
    }


def test_the_copy_load_writes_the_facts_processing_its_events_writes():
    crm = IntegrationFactory(slug="bench-crm", kind="crm", id_system="crm")
    trading = IntegrationFactory(slug="bench-mt5", kind="trading", id_system="mt5-live")
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    scale_load.brand_licence()

    loaded = scale_load.load(
        test_database_conninfo(),
        first_block=0,
        blocks=2,
        total_events=20,
        now=now,
        integrations=(crm.pk, trading.pk),
    )

    assert loaded["rows"] == {
        "integrations_inboundevent": 20,
        "players_player": 2,
        "mappings_identifiermapping": 4,
        "players_deposit": 6,
        "players_revenuereport": 7,  # event 5 (a revenue report) is dead: it recorded nothing
        "players_trade": 4,
    }
    assert InboundEventKey.objects.count() == 20
    # The facts' natural keys are filled with them, pointing at the copied rows.
    assert sorted(RevenueReportKey.objects.values_list("fact_id", flat=True)) == sorted(
        RevenueReport.objects.values_list("pk", flat=True)
    )
    assert sorted(TradeKey.objects.values_list("fact_id", flat=True)) == sorted(
        Trade.objects.values_list("pk", flat=True)
    )
    copied = _facts()
    assert len(copied["deposits"]) == 6 and sum(d[6] for d in copied["deposits"]) == 2  # firsts

    processed = list(
        InboundEvent.objects.filter(status="processed").order_by("pk").values_list("pk", flat=True)
    )
    for model in (
        Deposit,
        RevenueReport,
        RevenueReportKey,
        Trade,
        TradeKey,
        IdentifierMapping,
        Player,
    ):
        model.objects.all().delete()
    InboundEvent.objects.filter(pk__in=processed).update(status="received", processed_at=None)

    assert inbound_events_process_sequence(event_ids=processed) == {"processed": 19}
    assert _facts() == copied
