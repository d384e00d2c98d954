"""The outbound room: endpoints, deliveries (the outbox), subscriber webhooks, affiliate
postbacks and gateway requests, the retry schedule, endpoint health and alerts. Other rooms and
other apps import `apps.integrations.outbound.public` only."""
