"""The demo's risk queue (issue 17): four new players of Slots Review, who clicked its link
minutes apart, register from one device, pass KYC and each deposit the minimum once.

The clicks are recorded as the landing page would; the registrations and deposits, reported by
the CRM with the same device hash, go through the inbound pipeline like every other demo fact.
So the risk rules find them: one open case holding the four CPAs the deposits qualified (the
affiliate is on the demo's CPA plan), waiting in Compliance's and Finance's queue.
"""

from __future__ import annotations

import datetime as dt

from apps.affiliates.models import Affiliate, TrackingLink
from apps.affiliates.services import click_record
from apps.risk.services import rules_sync
from apps.sandbox.demo_feed import DemoFeed
from apps.sandbox.world import BRANDS, COMPLIANCE, CRM

RING_AFFILIATE_EMAIL = "affiliates@slotsreview.demo"
RING_BRAND = "spinpalace"
RING_SIZE = 4
RING_DEVICE = "demo-ring-device-5e1c0a7f93b2"
RING_DEPOSIT = "20.00"  # the CPA plan's minimum first deposit


def fraud_ring_add(*, feed: DemoFeed, now: dt.datetime) -> int:
    """Queue the ring's registrations and deposits on `feed` (sent at its next flush), a few
    hours before `now` so their CPAs fall in the open month; returns the ring's size."""
    rules_sync()  # the rules the ring meets, with their defaults where a database has none
    affiliate = Affiliate.objects.get(email=RING_AFFILIATE_EMAIL)
    link = (
        TrackingLink.objects.filter(campaign__affiliate=affiliate, campaign__brand=RING_BRAND)
        .order_by("pk")
        .first()
    )
    start = max(now - dt.timedelta(hours=6), now.replace(day=1, hour=0, minute=5))
    for n in range(RING_SIZE):
        clicked_at = start + dt.timedelta(minutes=7 * n)
        click = click_record(
            link=link,
            ip=f"198.51.100.{40 + n}",
            user_agent="Mozilla/5.0 (Android)",
            occurred_at=clicked_at,
        )
        crm_id = f"C-RING-{n + 1}"
        registered_at = clicked_at + dt.timedelta(minutes=3)
        feed.add(
            CRM,
            "player.registered",
            {
                "player_id": crm_id,
                "registered_at": registered_at.isoformat(),
                "country": "DE",
                "brand": RING_BRAND,
                "tracking_token": click.token,
                "device_hash": RING_DEVICE,
            },
            at=registered_at,
        )
        # KYC passes (documents look fine: the ring is built to qualify), then the minimum.
        feed.add(
            COMPLIANCE,
            "kyc.updated",
            {
                "player_id": crm_id,
                "status": "passed",
                "updated_at": (registered_at + dt.timedelta(minutes=1)).isoformat(),
            },
            at=registered_at + dt.timedelta(minutes=1),
        )
        feed.add(
            CRM,
            "deposit.created",
            {
                "deposit_id": f"DD-RING-{n + 1}",
                "player_id": crm_id,
                "amount": RING_DEPOSIT,
                "currency": BRANDS[RING_BRAND],
                "device_hash": RING_DEVICE,
            },
            at=registered_at + dt.timedelta(minutes=2),
        )
    return RING_SIZE
