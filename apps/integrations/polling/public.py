"""What the polling room offers other code: configure a poll, run one (management command,
sandbox set-up), store a page found elsewhere (the sandbox's demo). Models are imported from
`apps.integrations.models`."""

from apps.integrations.polling.pages import store_polled_page
from apps.integrations.polling.services import (
    PollBusy,
    PollError,
    integration_poll,
    poll_config_save,
)

__all__ = ["PollBusy", "PollError", "integration_poll", "poll_config_save", "store_polled_page"]
