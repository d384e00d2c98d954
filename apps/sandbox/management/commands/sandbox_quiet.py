"""`manage.py sandbox_quiet <system> --minutes N`: a simulated system stops sending webhooks for a
while, so the demo shows the silence alerts fire and then resolve when it sends again."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.sandbox.services import sandbox_quiet
from apps.sandbox.world import ENDPOINTS


class Command(BaseCommand):
    help = (
        "Make a sandbox system (sandbox-crm, or just crm) send no webhooks for N minutes; "
        "--minutes 0 ends it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "system",
            help=f"One of {', '.join(sorted(ENDPOINTS))} (the 'sandbox-' prefix is optional).",
        )
        parser.add_argument(
            "--minutes",
            type=float,
            default=45.0,
            help="How long it stays quiet (default 45; 0 ends a quiet spell now).",
        )

    def handle(self, *args, system, minutes, **options):
        slug = system if system in ENDPOINTS else f"sandbox-{system}"
        try:
            endpoint = sandbox_quiet(slug=slug, minutes=minutes)
        except (LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if endpoint.quiet_until is None:
            self.stdout.write(f"{slug} sends webhooks again.")
        else:
            self.stdout.write(
                f"{slug} sends no webhooks until {endpoint.quiet_until:%Y-%m-%d %H:%M:%S %Z} "
                "(its events are kept for polling)."
            )
