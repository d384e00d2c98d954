import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.core.models import ApiKey
from apps.core.services import ApiKeyError, apikey_create


class Command(BaseCommand):
    help = "Create an API key and print it once. Only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            nargs="+",
            required=True,
            metavar="SCOPE",
            help=f"One or more of: {', '.join(ApiKey.Scope.values)}",
        )
        parser.add_argument(
            "--expires-in-days",
            type=int,
            metavar="DAYS",
            help="Refuse the key this many days from now.",
        )
        parser.add_argument(
            "--allowed-ips",
            nargs="+",
            default=[],
            metavar="ADDRESS",
            help="Accept the key only from these IP addresses or CIDR networks (IPv4 or IPv6).",
        )

    def handle(self, *args, name, scopes, expires_in_days, allowed_ips, **options):
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be a positive number of days.")
        expires_at = (
            timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
        )
        try:
            issued = apikey_create(
                name=name, scopes=scopes, expires_at=expires_at, allowed_ips=allowed_ips
            )
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from exc
        api_key = issued.api_key
        self.stdout.write(f"API key {name!r} with scopes {', '.join(api_key.scopes)}.")
        if api_key.expires_at:
            self.stdout.write(f"Expires {api_key.expires_at.isoformat(timespec='seconds')}.")
        if api_key.allowed_ips:
            self.stdout.write(f"Accepted only from {', '.join(api_key.allowed_ips)}.")
        self.stdout.write("Store it now; it is shown only once:")
        self.stdout.write(issued.plaintext)
