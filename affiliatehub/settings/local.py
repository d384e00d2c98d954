"""Local development and the `make run` demo."""

from affiliatehub.settings.base import *  # noqa: F403
from affiliatehub.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
