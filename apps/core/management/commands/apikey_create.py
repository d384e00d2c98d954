from django.core.management.base import BaseCommand, CommandError

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

    def handle(self, *args, name, scopes, **options):
        try:
            issued = apikey_create(name=name, scopes=scopes)
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"API key {name!r} with scopes {', '.join(issued.api_key.scopes)}.")
        self.stdout.write("Store it now; it is shown only once:")
        self.stdout.write(issued.plaintext)
