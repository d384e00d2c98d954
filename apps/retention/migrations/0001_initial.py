"""Retention's models move here from monitoring with their data (issue 14 §3).

State: RetentionPlayer (a proxy of players.Player) and RetentionSegment are created in this app;
monitoring 0016, which depends on this migration, removes them from monitoring's state.
Database: the one real table is renamed, monitoring_retentionsegment -> retention_retentionsegment,
so the table carries this app's name like every other; its rows, identity sequence, indexes and
constraints stay as they are (a rename in the catalogue, no copy). The content types follow in
0002.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("monitoring", "0015_alert_roles"),
        ("players", "0002_facts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RetentionPlayer",
                    fields=[],
                    options={
                        "verbose_name": "retention player",
                        "verbose_name_plural": "retention: players",
                        "proxy": True,
                        "indexes": [],
                        "constraints": [],
                    },
                    bases=("players.player",),
                ),
                migrations.CreateModel(
                    name="RetentionSegment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.CharField(max_length=120, unique=True)),
                        (
                            "query",
                            models.TextField(
                                help_text="The retention list's filters as a query string "
                                "(dormant_days=30&country=DE…)."
                            ),
                        ),
                        ("description", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"verbose_name": "retention segment", "ordering": ["name"]},
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE monitoring_retentionsegment RENAME TO retention_retentionsegment",
                    reverse_sql=(
                        "ALTER TABLE retention_retentionsegment RENAME TO monitoring_retentionsegment"
                    ),
                ),
            ],
        ),
    ]
