from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "apps.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self):
        # Explicit registration (no signals): gateway webhooks through the inbound pipeline, and
        # the outcome of our own payout requests through the outbound engine.
        from apps.integrations import outbound, registry
        from apps.payouts import handlers

        registry.register("payout.confirmed", handlers.payout_confirmed)
        registry.register("payout.failed", handlers.payout_failed)
        outbound.register_outcome_handler("payout.request", handlers.gateway_request_outcome)
