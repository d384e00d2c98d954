"""The inbound room: webhook intake (verify, validate, store), the event store, dispatch to the
worker, the handler registry that runs each event type's declared pipeline, retries, parking and
dead letters. Other rooms and other apps import `apps.integrations.inbound.public` only."""
