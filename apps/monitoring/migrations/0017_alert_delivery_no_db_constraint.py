"""Alert.delivery loses its database constraint before the delivery table is partitioned
(integrations 0013): a foreign key needs a unique key to reference, and the partitioned table's
only one is (id, created_at)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0012_poll_lease"),
        ("monitoring", "0016_retention_moves_out"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alert",
            name="delivery",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="integrations.outbounddelivery",
            ),
        ),
    ]
