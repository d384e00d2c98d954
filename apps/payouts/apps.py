from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "apps.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self):
        from apps.core.fx import fx_rate_source_register
        from apps.integrations.inbound import registry
        from apps.integrations.outbound import public as outbound
        from apps.payouts import handlers
        from apps.payouts.fx import fx_quote

        # The FX table serves the apps below payouts too (CPA thresholds), through apps.core.fx.
        fx_rate_source_register(fx_quote)
        # Explicit registration (no signals): gateway webhooks through the inbound pipeline, and
        # the outcome of our own payout requests through the outbound engine.
        registry.register("payout.confirmed", handlers.payout_confirmed)
        registry.register("payout.failed", handlers.payout_failed)
        # What the handlers store, so the door refuses what a column cannot hold (422, not retries).
        from apps.payouts.models import Payout

        reference = Payout._meta.get_field("gateway_reference").max_length
        for event_type in ("payout.confirmed", "payout.failed"):
            registry.limit(event_type, "gateway_reference", reference)
        outbound.register_outcome_handler("payout.request", handlers.gateway_request_outcome)
