"""manage.py statements_close YYYY-MM: close a period and build its statements (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.commissions import periods
from apps.commissions.services import StatementError, statements_close


class Command(BaseCommand):
    help = "Close a statement period (a month in the operator time zone) and build its statements."

    def add_arguments(self, parser):
        parser.add_argument("period", help="YYYY-MM")

    def handle(self, *args, **options):
        try:
            period = periods.parse_period(options["period"])
            close = statements_close(period=period)
        except (ValueError, StatementError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{period:%Y-%m} closed at {close.closed_at:%Y-%m-%d %H:%M}: {close.summary}"
        )
