from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "apps.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self):
        from apps.core.fx import fx_rate_source_register
        from apps.integrations.outbound import public as outbound
        from apps.payouts import handlers
        from apps.payouts.fx import fx_quote

        # The FX table serves the apps below payouts too (CPA thresholds), through apps.core.fx.
        fx_rate_source_register(fx_quote)
        # The outcome of our own payout requests through the outbound engine (the gateway's
        # webhooks reach payouts.handlers through the pipelines, apps/pipeline/pipelines.py).
        outbound.register_outcome_handler("payout.request", handlers.gateway_request_outcome)
