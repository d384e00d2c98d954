"""Celery tasks of the sandbox, for autodiscovery (which imports each app's `tasks` module)."""

from apps.sandbox.gateway_tasks import settle_payout, sweep_overdue

__all__ = ["settle_payout", "sweep_overdue"]
