"""RetentionPlayer and RetentionSegment now belong to apps.retention (retention 0001 renamed the
table and created them in its state); monitoring forgets them. Nothing changes in the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0015_alert_roles"),
        ("retention", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="RetentionSegment"),
                migrations.DeleteModel(name="RetentionPlayer"),
            ],
            database_operations=[],
        ),
    ]
