"""The demo's risk queue (issue 17): four of Slots Review's players turn out to share a device.

Their deposits of the minimum, reported by the CRM with the same device hash, go through the
inbound pipeline like every other demo fact, so the risk rules find them: one open case, the
players' unpaid commission lines held, waiting in Compliance's and Finance's queue.
"""

from __future__ import annotations

import datetime as dt

from apps.affiliates.models import Affiliate
from apps.mappings.models import IdentifierMapping
from apps.players.models import Player
from apps.sandbox.demo_feed import DemoFeed
from apps.sandbox.demo_history import CURRENCY
from apps.sandbox.world import CRM

RING_AFFILIATE_EMAIL = "affiliates@slotsreview.demo"
RING_SIZE = 4
RING_DEVICE = "demo-ring-device-5e1c0a7f93b2"


def fraud_ring_add(*, feed: DemoFeed, now: dt.datetime) -> int:
    """Queue the ring's deposits on `feed` (sent at its next flush); returns the ring's size."""
    affiliate = Affiliate.objects.get(email=RING_AFFILIATE_EMAIL)
    players = list(
        Player.objects.filter(affiliate=affiliate).order_by("registered_at", "pk")[:RING_SIZE]
    )
    crm_ids = dict(
        IdentifierMapping.objects.filter(player__in=players, system="crm").values_list(
            "player_id", "external_id"
        )
    )
    for n, player in enumerate(players):
        feed.add(
            CRM,
            "deposit.created",
            {
                "deposit_id": f"DD-RING-{n + 1}",
                "player_id": crm_ids[player.pk],
                "amount": "20.00",
                "currency": CURRENCY[player.brand],
                "device_hash": RING_DEVICE,
            },
            at=now - dt.timedelta(hours=30 - n),
        )
    return len(players)
