"""One alert system (issue 14 §5): monitoring.Alert also holds event alerts (a dead-lettered
outbound delivery, a disabled endpoint), raised through apps.core.alerts. The schema here; the
rows of integrations.OutboundAlert are carried over by 0014 (its own transaction: PostgreSQL
refuses this migration's deferred index creation after rows were inserted), and integrations
0010 then drops that table."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0009_gateway_url_dual_control"),
        ("monitoring", "0012_postback_template_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="delivery",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="integrations.outbounddelivery",
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="endpoint",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="integrations.outboundendpoint",
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="kind",
            field=models.CharField(
                choices=[
                    ("rule", "Rule breached"),
                    ("delivery_dead", "Outbound delivery dead-lettered"),
                    ("endpoint_disabled", "Outbound endpoint disabled"),
                ],
                default="rule",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="alert",
            name="message",
            field=models.TextField(),
        ),
        migrations.AlterField(
            model_name="alert",
            name="rule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="alerts",
                to="monitoring.alertrule",
            ),
        ),
        migrations.AlterField(
            model_name="alert",
            name="scope",
            field=models.CharField(
                help_text="'all', the integration's slug or the outbound endpoint's name.",
                max_length=80,
            ),
        ),
        migrations.AlterField(
            model_name="alert",
            name="threshold",
            field=models.DecimalField(blank=True, decimal_places=4, max_digits=12, null=True),
        ),
        migrations.AlterField(
            model_name="alert",
            name="value",
            field=models.DecimalField(
                blank=True,
                decimal_places=4,
                help_text="Rule alerts: the figure when it fired (updated while open).",
                max_digits=16,
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("kind", "rule"),
                        ("rule__isnull", False),
                        ("threshold__isnull", False),
                        ("value__isnull", False),
                    ),
                    models.Q(
                        ("endpoint__isnull", False),
                        ("kind__in", ["delivery_dead", "endpoint_disabled"]),
                        ("rule__isnull", True),
                    ),
                    _connector="OR",
                ),
                name="alert_rule_or_event_complete",
            ),
        ),
    ]
