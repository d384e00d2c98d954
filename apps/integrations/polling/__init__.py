"""The polling room: poll connectors and their schedules, vendor adapters (the generic envelope
format, MT5 manager deals), reconciliation runs. What polling finds is stored through the
inbound room's public store. Other code imports `apps.integrations.polling.public` only."""
