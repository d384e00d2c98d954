from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the superuser for the demo if it does not exist (password read from a file)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", required=True)

    def handle(self, *args, username, password_file, **options):
        path = Path(password_file)
        if not path.exists():
            raise CommandError(f"No such file: {path}")
        password = path.read_text().strip()
        if not password:
            raise CommandError(f"{path} is empty.")
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"Admin user {username!r} {'created' if created else 'exists'}.")
