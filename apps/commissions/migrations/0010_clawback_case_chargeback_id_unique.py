# The unique chargeback id, once 0009 has filled it in (a separate transaction from the data).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('commissions', '0009_clawback_case_per_chargeback'),
    ]

    operations = [
        migrations.AlterField(
            model_name='clawbackcase',
            name='chargeback_id',
            field=models.CharField(help_text="The chargeback's id: one case per chargeback, whichever system reports it and however often.", max_length=255, unique=True),
        ),
    ]
