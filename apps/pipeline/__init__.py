"""The inbound event pipelines: `pipelines.py` declares, for every event type, the handlers that
run and their order. An app without models, at the top of the layers: it may import every
domain app's handlers, and no app imports it."""
