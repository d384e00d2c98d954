"""`manage.py sandbox_poll_setup --base-url http://127.0.0.1:8000`: poll configurations for the
sandbox CRM (generic contract) and trading platform (MT5 deals), pointing at the sandbox's own
poll endpoints, so `make run` shows reconciliation recovering the webhooks the sandbox dropped."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand

from apps.integrations.models import Integration, PollConfig
from apps.integrations.polling.public import poll_config_save
from apps.sandbox.models import SandboxEndpoint
from apps.sandbox.poll_views import sandbox_poll_token
from apps.sandbox.services import sandbox_endpoints_ensure
from apps.sandbox.world import CRM, MT5_SERVER, TRADING


class Command(BaseCommand):
    help = "Create or update the poll configurations of the sandbox CRM and trading platform."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the hub (and sandbox) answers.",
        )
        parser.add_argument(
            "--interval", type=int, default=10, help="Minutes between polls (demo: 10)."
        )

    def handle(self, *args, base_url, interval, **options):
        sandbox_endpoints_ensure()
        for slug, adapter in (
            (CRM, PollConfig.Adapter.GENERIC),
            (TRADING, PollConfig.Adapter.MT5_DEALS),
        ):
            integration = Integration.objects.get(slug=slug)
            secret = SandboxEndpoint.objects.get(slug=slug).secret
            config = poll_config_save(
                integration=integration,
                actor_label="sandbox_poll_setup",
                url=f"{base_url.rstrip('/')}/sandbox/poll/{slug}/",
                adapter=adapter,
                server=MT5_SERVER if adapter == PollConfig.Adapter.MT5_DEALS else "",
                auth_header_name="Authorization",
                auth_header_value=f"Bearer {sandbox_poll_token(secret)}",
                interval_minutes=interval,
                window_overlap=dt.timedelta(minutes=15),
                initial_lookback=dt.timedelta(hours=2),
                page_size=500,
            )
            self.stdout.write(
                f"{slug}: polls {config.url} every {interval} min ({config.get_adapter_display()})."
            )
