import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.players.models import Player
from tests.factories import CampaignFactory, IdentifierMappingFactory, PlayerFactory

pytestmark = pytest.mark.django_db


def attributed_player(**kwargs):
    campaign = CampaignFactory()
    return PlayerFactory(
        attribution_status=Player.AttributionStatus.ATTRIBUTED,
        affiliate=campaign.affiliate,
        campaign=campaign,
        attribution_note="click",
        **kwargs,
    )


def test_changelist_filters_by_attribution_status(admin_client):
    attributed_player()
    PlayerFactory()
    url = reverse("admin:players_player_changelist")
    response = admin_client.get(url + "?attribution_status__exact=attributed")
    assert [p.attribution_status for p in response.context["cl"].result_list] == ["attributed"]


def test_changelist_has_no_n_plus_one(admin_client):
    url = reverse("admin:players_player_changelist")
    attributed_player()

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(5):
        attributed_player()
    assert count() == few


def test_player_detail_is_read_only_and_shows_identifiers(admin_client):
    mapping = IdentifierMappingFactory(system="crm", external_id="C-77")
    response = admin_client.get(reverse("admin:players_player_change", args=[mapping.player_id]))
    html = response.content.decode()
    assert "crm:C-77" in html
    assert 'name="attribution_status"' not in html and 'name="brand"' not in html
    assert admin_client.get(reverse("admin:players_player_add")).status_code == 403


def test_attribution_consistency_is_a_database_rule():
    from django.db import IntegrityError

    campaign = CampaignFactory()
    with pytest.raises(IntegrityError):
        PlayerFactory(attribution_status="organic", affiliate=campaign.affiliate)
