"""manage.py integration_rotate_secret SLUG"""

from django.core.management.base import BaseCommand, CommandError

from apps.core import conf
from apps.integrations.accounts import integration_rotate_secret
from apps.integrations.models import Integration


class Command(BaseCommand):
    help = "Issue a new signing secret; the previous one keeps working for the grace period."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        integration = Integration.objects.filter(slug=slug).first()
        if integration is None:
            known = ", ".join(Integration.objects.values_list("slug", flat=True)[:20]) or "none"
            raise CommandError(f"No integration {slug!r}. Known: {known}.")
        secret = integration_rotate_secret(integration=integration)
        grace = conf.duration("AFFILIATEHUB_SECRET_ROTATION_GRACE")
        self.stdout.write(
            f"New signing secret for {slug} (shown once). The previous secret keeps verifying for "
            f"{grace}:\n"
        )
        self.stdout.write(secret)
