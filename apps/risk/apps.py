from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "apps.risk"
    label = "risk"
    verbose_name = "Risk queue"

    def ready(self):
        from apps.payouts.selectors import approval_note_register
        from apps.risk.selectors import approval_notes

        # The payout approval page lists the affiliate's open cases and what they hold.
        approval_note_register(approval_notes)
