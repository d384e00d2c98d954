"""Indexes on (created_at, id): the read API's keyset pages and the admin's default order."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY: the ledger keeps taking writes while the index builds

    dependencies = [
        ('affiliates', '0002_postback_templates'),
        ('commissions', '0006_statement_player_ngr_no_statement_constraint'),
        ('players', '0002_facts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='commissionentry',
            index=models.Index(fields=['created_at', 'id'], name='entry_created_idx'),
        ),
        AddIndexConcurrently(
            model_name='statement',
            index=models.Index(fields=['created_at', 'id'], name='statement_created_idx'),
        ),
    ]
