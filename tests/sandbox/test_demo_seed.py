import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from apps.affiliates.models import Affiliate, Click, Creative, TrackingLink
from apps.compliance.models import BrandLicence, KycRecord, SelfExclusion
from apps.mappings.models import IdentifierMapping
from apps.players.models import Player

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out)
    return out.getvalue()


def test_demo_seed_loads_a_complete_data_set_quickly():
    started = time.monotonic()
    output = seed()
    # ~5 s on an idle 2-core machine; the bound leaves room for a busy CI box without hiding
    # a regression to per-row commits or N+1 loading (those take minutes).
    assert time.monotonic() - started < 20
    assert "Demo data loaded" in output

    assert Affiliate.objects.count() == 6
    assert Affiliate.objects.filter(parent__isnull=False).count() == 1
    assert Affiliate.objects.filter(status="suspended").count() == 1
    statuses = dict(Creative.objects.values_list("status").annotate(n=Count("id")))
    assert statuses["approved"] >= 8 and statuses["pending"] == 2 and statuses["rejected"] == 1
    assert TrackingLink.objects.count() == statuses["approved"]
    assert Click.objects.count() == 1200
    assert set(BrandLicence.objects.values_list("brand", flat=True)) == {"spinpalace", "tradeking"}

    assert Player.objects.count() == 300
    by_status = dict(Player.objects.values_list("attribution_status").annotate(n=Count("id")))
    assert by_status["attributed"] > 100 and by_status["organic"] > 30 and by_status["geo_blocked"] > 10
    assert Player.objects.filter(attribution_note="unknown tracking token").exists()
    assert not Player.objects.filter(attribution_status="geo_blocked", affiliate__isnull=False).exists()
    systems = dict(IdentifierMapping.objects.values_list("system").annotate(n=Count("id")))
    assert systems["crm"] == 300 and systems["mt5-live"] > 50 and systems["payments"] > 100

    assert KycRecord.objects.filter(is_current=True).count() == 100
    assert KycRecord.objects.filter(is_current=True, status="passed").exists()
    assert SelfExclusion.objects.count() == 3
    assert SelfExclusion.objects.filter(ended_at__isnull=False).count() == 1


def test_demo_seed_runs_once():
    seed()
    counts = (Player.objects.count(), Click.objects.count(), IdentifierMapping.objects.count())
    assert "already loaded" in seed()
    assert (Player.objects.count(), Click.objects.count(), IdentifierMapping.objects.count()) == counts

