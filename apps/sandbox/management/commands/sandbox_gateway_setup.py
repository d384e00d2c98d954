"""`manage.py sandbox_gateway_setup --base-url http://127.0.0.1:8000`: wire the sandbox payment
gateway in (idempotent; `make run` calls it after demo_seed)."""

from decimal import Decimal

from django.core.management.base import BaseCommand

from apps.sandbox.gateway_setup import sandbox_gateway_setup


class Command(BaseCommand):
    help = (
        "Create or refresh the sandbox payment gateway's integration, endpoint and configuration."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where AffiliateHub listens."
        )
        parser.add_argument(
            "--failure-rate", type=Decimal, default=None, help="Share of payouts that fail (0-1)."
        )

    def handle(self, *args, base_url, failure_rate, **options):
        setup = sandbox_gateway_setup(base_url=base_url, failure_rate=failure_rate)
        self.stdout.write(
            f"Sandbox gateway: payout requests -> {setup.endpoint.url}/payouts; results -> "
            f"/api/v1/webhooks/{setup.integration.slug}/; {setup.methods_created} payout method(s) "
            "added."
        )
