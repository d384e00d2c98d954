"""Indexes on (created_at, id): the read API's keyset pages and the admin's default order."""

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY: the table keeps taking writes while the index builds

    dependencies = [
        ('affiliates', '0002_postback_templates'),
        ('payouts', '0002_roles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='payout',
            index=models.Index(fields=['created_at', 'id'], name='payout_created_idx'),
        ),
    ]
