"""Load the demo data set once: affiliates, campaigns, creatives, links, clicks, ~300 players,
compliance records, demo staff per role, and five months of history through the inbound pipeline
with its commissions, closed months, statements, payouts and queues (apps.sandbox.demo_*).

Deterministic (random.Random(42)) and idempotent: the demo affiliate with DEMO_MARKER_EMAIL
marks a loaded data set, and everything is loaded in one transaction, so a failed run leaves
nothing behind and the next run starts again.
"""

from __future__ import annotations

import base64
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.affiliates.models import Affiliate, Click
from apps.affiliates.services import (
    affiliate_create,
    campaign_create,
    creative_approve,
    creative_create,
    creative_reject,
    hash_ip,
    tracking_link_create,
)
from apps.compliance.models import Jurisdiction
from apps.compliance.services import (
    brand_licence_set,
    kyc_record_update,
    self_exclusion_end,
    self_exclusion_start,
)
from apps.core.audit import audited_save
from apps.payouts.models import PayoutHold
from apps.postbacks.services import player_register_announced
from apps.sandbox import demo_finance, demo_operations, demo_risk
from apps.sandbox.demo_feed import DemoFeed
from apps.sandbox.demo_history import history_add
from apps.sandbox.demo_staff import DEMO_STAFF, demo_staff_ensure

DEMO_MARKER_EMAIL = "partners@casinoguru-media.demo"
SEED = 42
PLAYER_COUNT = 300
CLICK_COUNT = 1200
KYC_CHECKED = 180  # players with a KYC record; CPA plans pay only for players who passed
HISTORY_DAYS = 150  # clicks and registrations reach this far back; the months since are closed
SOURCE = "demo_seed"

JURISDICTIONS = {
    "DE": "Germany",
    "AT": "Austria",
    "SE": "Sweden",
    "GB": "United Kingdom",
    "NL": "Netherlands",
    "CA": "Canada",
    "FR": "France",
    "ES": "Spain",
    "CY": "Cyprus",
    "AU": "Australia",
    "US": "United States",
}
BRANDS = {
    # brand -> licensed countries
    "spinpalace": ["DE", "AT", "SE", "GB", "CA"],
    "tradeking": ["CY", "DE", "GB", "AU", "ES"],
}
# Registration countries, weighted; FR, NL and US are licensed for neither brand (geo-blocked).
COUNTRY_WEIGHTS = {
    "DE": 30,
    "GB": 20,
    "AT": 8,
    "SE": 8,
    "CA": 6,
    "CY": 4,
    "ES": 6,
    "AU": 6,
    "FR": 5,
    "NL": 4,
    "US": 3,
}

AFFILIATES = [
    # (name, email, currency, parent email, campaigns [(name, brand, creatives [(name, decision)])])
    (
        "Casino Guru Media",
        DEMO_MARKER_EMAIL,
        "EUR",
        None,
        [
            (
                "Welcome bonus DE",
                "spinpalace",
                [("Hero banner 728x90", "approve"), ("Email teaser", "approve")],
            ),
            (
                "Live casino",
                "spinpalace",
                [("Video pre-roll", "approve"), ("Free spins popup", "reject")],
            ),
        ],
    ),
    (
        "Slots Review Ltd",
        "affiliates@slotsreview.demo",
        "GBP",
        None,
        [
            (
                "UK reviews",
                "spinpalace",
                [("Review widget", "approve"), ("Comparison table", "pending")],
            ),
        ],
    ),
    (
        "FX Signals Pro",
        "ib@fxsignals.demo",
        "USD",
        None,
        [
            (
                "Gold trading",
                "tradeking",
                [("XAUUSD landing", "approve"), ("Webinar banner", "approve")],
            ),
            ("Copy trading", "tradeking", [("Telegram post", "pending")]),
        ],
    ),
    (
        "Bonus Hunters Network",
        "network@bonushunters.demo",
        "EUR",
        None,
        [
            ("Network main", "spinpalace", [("Skyscraper 160x600", "approve")]),
        ],
    ),
    (
        "Bonus Hunters DE",
        "de@bonushunters.demo",
        "EUR",
        "network@bonushunters.demo",
        [
            ("Bundesliga", "spinpalace", [("Matchday banner", "approve")]),
            ("Forex DE", "tradeking", [("Broker comparison", "approve")]),
        ],
    ),
    (
        "Rogue Traffic",
        "ops@roguetraffic.demo",
        "USD",
        None,
        [
            ("Push traffic", "spinpalace", [("Push notification", "approve")]),
        ],
    ),
]


class Command(BaseCommand):
    help = "Load the demo data set (once; skipped when it is already there)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--staff-password-file",
            default=None,
            help="File holding the demo staff users' password (`make run` passes the demo "
            "admin's, .data/admin-password). Without it or --staff-password they get no "
            "usable password (an admin can set one).",
        )
        parser.add_argument(
            "--staff-password", default=None, help="The demo staff users' password (tests)."
        )
        parser.add_argument(
            "--base-url",
            default=None,
            help="Where the sandbox gateway is served (default http://127.0.0.1:$PORT).",
        )

    def handle(
        self, *args, staff_password=None, staff_password_file=None, base_url=None, **options
    ):
        if Affiliate.objects.filter(email=DEMO_MARKER_EMAIL).exists():
            self.stdout.write(
                f"Demo data already loaded; skipping. Demo staff: {', '.join(DEMO_STAFF)}."
            )
            return
        started = time.monotonic()
        rng = random.Random(SEED)
        if staff_password_file:
            staff_password = Path(staff_password_file).read_text().strip() or None
        base_url = base_url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        # Anchor times to the start of today so reruns on one day produce the same data.
        now = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with transaction.atomic():
            self._licences()
            links, affiliates = self._affiliates(now)
            clicks = self._clicks(rng, links, now)
            players = self._players(rng, clicks, now)
            self._compliance(rng, players, now)
            loaded = self._finance(rng, affiliates, players, now, staff_password, base_url)
        self.stdout.write(
            f"Demo data loaded: {len(AFFILIATES)} affiliates, {len(links)} tracking links, "
            f"{len(clicks)} clicks, "
            f"{len(players)} players; {loaded} in {time.monotonic() - started:.1f} s.\n"
            f"Demo staff ({'the password given' if staff_password else 'no usable password'}): "
            f"{', '.join(DEMO_STAFF)}."
        )

    def _finance(self, rng, affiliates, players, now, password: str | None, base_url) -> str:
        staff = demo_staff_ensure(password=password)
        maker, checker = staff["finance-demo-maker"], staff["finance-demo-checker"]
        history_start = now - timedelta(days=HISTORY_DAYS + 1)
        plans = demo_finance.plans_assign(
            affiliates=affiliates, valid_from=history_start.date().replace(day=1), acting_user=maker
        )
        demo_finance.payment_setup(
            affiliates=affiliates, rates_from=history_start, acting_user=maker, base_url=base_url
        )
        feed = DemoFeed()
        history = history_add(rng=rng, feed=feed, players=players, now=now)
        demo_operations.parked_and_dead_add(feed=feed, now=now)
        feed.flush()
        finance = demo_finance.FinanceResult(plans=plans)
        demo_finance.payout_cycles(
            affiliates=affiliates,
            first_period=history_start.date().replace(day=1),
            now=now,
            feed=feed,
            maker=maker,
            checker=checker,
            result=finance,
        )
        demo_finance.clawbacks_decide(checker=checker, result=finance)
        demo_finance.controls_pending(affiliates=affiliates, now=now, maker=maker)
        ring = demo_risk.fraud_ring_add(feed=feed, now=now)
        feed.flush()
        run = demo_operations.reconciliation_with_delta(feed=feed, now=now)
        alerts = demo_operations.alerts_evaluate(now=timezone.now())
        held = PayoutHold.objects.filter(released_at__isnull=True).count()
        payouts = ", ".join(f"{n} {status}" for status, n in sorted(finance.payouts.items()))
        return (
            f"{plans} plans, {len(feed.sent)} events ({history.depositors} depositing players: "
            f"{', '.join(f'{n} {p}' for p, n in sorted(history.profiles.items()))}), "
            f"months closed {', '.join(finance.closed)} ({finance.statements} statements "
            "approved), "
            f"payouts: {payouts}, {held} held; clawback cases: "
            f"{', '.join(f'{n} {s}' for s, n in sorted(finance.clawbacks.items()))}; "
            f"events {', '.join(f'{n} {o}' for o, n in sorted(feed.outcomes.items()))}; "
            f"reconciliation delta {run.delta}; {alerts} alerts open; "
            f"a risk case on a ring of {ring} players"
        )

    def _licences(self) -> None:
        known = set(
            Jurisdiction.objects.filter(code__in=list(JURISDICTIONS)).values_list("code", flat=True)
        )
        for code, name in JURISDICTIONS.items():
            if code not in known:  # audited like an admin save (demo data runs once, alone)
                audited_save(Jurisdiction(code=code, name=name), actor_label="demo_seed")
        for brand, countries in BRANDS.items():
            for country in countries:
                brand_licence_set(brand=brand, country=country, is_active=True, note="demo licence")

    def _affiliates(self, now: datetime) -> tuple[list, dict[str, Affiliate]]:
        by_email: dict[str, Affiliate] = {}
        links = []
        for name, email, currency, parent_email, campaigns in AFFILIATES:
            affiliate = affiliate_create(
                name=name,
                email=email,
                payout_currency=currency,
                parent=by_email.get(parent_email),
                actor_label=SOURCE,
            )
            by_email[email] = affiliate
            for campaign_name, brand, creatives in campaigns:
                campaign = campaign_create(affiliate=affiliate, name=campaign_name, brand=brand)
                for creative_name, decision in creatives:
                    creative = creative_create(campaign=campaign, name=creative_name)
                    if decision == "approve":
                        creative = creative_approve(
                            creative=creative, acting_user=None, note="demo: approved"
                        )
                        slug = campaign_name.lower().replace(" ", "-")
                        links.append(
                            tracking_link_create(
                                affiliate=affiliate,
                                campaign=campaign,
                                creative=creative,
                                landing_url=f"https://{brand}.demo/landing/{slug}?lang=en",
                            )
                        )
                    elif decision == "reject":
                        creative_reject(
                            creative=creative,
                            acting_user=None,
                            reason="demo: misleading bonus terms",
                        )
        return links, by_email

    def _clicks(self, rng: random.Random, links: list, now: datetime) -> list[Click]:
        # Rogue Traffic earns until it is suspended (demo_finance, before the last payout run).
        clicks = []
        for _ in range(CLICK_COUNT):
            link = rng.choice(links)
            ip = f"198.51.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
            clicks.append(
                Click(
                    link=link,
                    token=base64.urlsafe_b64encode(rng.randbytes(24)).decode(),
                    sub1=rng.choice(["google", "facebook", "newsletter", "seo", ""]),
                    sub2=f"adset-{rng.randrange(1, 20)}" if rng.random() < 0.6 else "",
                    sub3=rng.choice(["mobile", "desktop"]),
                    ip_hash=hash_ip(ip),
                    user_agent=rng.choice(
                        [
                            "Mozilla/5.0 (iPhone)",
                            "Mozilla/5.0 (Windows NT 10.0)",
                            "Mozilla/5.0 (Android)",
                        ]
                    ),
                    created_at=now
                    - timedelta(
                        days=rng.randrange(1, HISTORY_DAYS), minutes=rng.randrange(0, 1440)
                    ),
                )
            )
        return Click.objects.bulk_create(clicks, batch_size=1000)

    def _players(self, rng: random.Random, clicks: list[Click], now: datetime) -> list:
        countries, weights = zip(*COUNTRY_WEIGHTS.items(), strict=True)
        players = []
        for i in range(PLAYER_COUNT):
            roll = rng.random()
            click = rng.choice(clicks) if roll < 0.7 else None
            if click is not None:
                brand = click.link.campaign.brand
                registered_at = click.created_at + timedelta(minutes=rng.randrange(2, 600))
                token = click.token
            else:
                brand = rng.choice(list(BRANDS))
                registered_at = now - timedelta(
                    days=rng.randrange(1, HISTORY_DAYS), minutes=rng.randrange(0, 1440)
                )
                token = "expired-or-forged-token" if roll > 0.95 else None
            identifiers = {"crm": f"C-{100000 + i}"}
            if brand == "tradeking" or rng.random() < 0.2:
                identifiers["mt5-live"] = str(800000 + i)
            if rng.random() < 0.6:
                identifiers["payments"] = f"P-{500000 + i}"
            result = player_register_announced(
                tracking_token=token,
                registered_at=min(registered_at, now),
                country=rng.choices(countries, weights=weights)[0],
                brand=brand,
                identifiers=identifiers,
                source=SOURCE,
            )
            players.append(result.player)
        return players

    def _compliance(self, rng: random.Random, players: list, now: datetime) -> None:
        for player in rng.sample(players, KYC_CHECKED):
            started = player.registered_at + timedelta(hours=1)
            kyc_record_update(
                player=player, status="pending", occurred_at=started, source="kyc-demo"
            )
            outcome = rng.choices(["passed", "failed", None], weights=[75, 10, 15])[0]
            if outcome:
                kyc_record_update(
                    player=player,
                    status=outcome,
                    occurred_at=started + timedelta(hours=rng.randrange(1, 72)),
                    source="kyc-demo",
                )
        excluded = rng.sample(players, 3)
        for index, player in enumerate(excluded):
            starts_at = player.registered_at + timedelta(days=rng.randrange(1, 10))
            self_exclusion_start(
                player=player,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(days=180) if index else None,
                scheme="gamstop" if index == 2 else "operator",
                source="compliance-demo",
            )
        # One exclusion that has already been ended.
        self_exclusion_end(
            player=excluded[1],
            ended_at=excluded[1].registered_at + timedelta(days=12),
            source="compliance-demo",
            reason="demo: ended at the player's request after the cooling-off period",
        )
