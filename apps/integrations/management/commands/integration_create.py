"""manage.py integration_create SLUG --kind KIND [--id-system SYSTEM] [--name NAME]"""

from django.core.management.base import BaseCommand, CommandError

from apps.integrations.accounts import IntegrationError, integration_create
from apps.integrations.models import Integration


class Command(BaseCommand):
    help = "Create an integration and print its webhook signing secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="URL name: /api/v1/webhooks/<slug>/")
        parser.add_argument(
            "--kind", required=True, help=f"One of: {', '.join(Integration.Kind.values)}"
        )
        parser.add_argument(
            "--id-system",
            dest="id_system",
            help="Identifier system of its player ids (default: the slug).",
        )
        parser.add_argument("--name", help="Display name (default: the slug).")

    def handle(self, *args, slug, kind, id_system=None, name=None, **options):
        try:
            integration, secret = integration_create(
                slug=slug, kind=kind, id_system=id_system, name=name
            )
        except IntegrationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Created integration {integration.slug} ({integration.kind}, identifier system "
            f"{integration.id_system}).\n"
            f"Webhook URL path: /api/v1/webhooks/{integration.slug}/\n"
            "Signing secret (shown once, store it now):\n"
        )
        self.stdout.write(secret)
