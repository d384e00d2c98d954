"""Start-up checks of the staff-account settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from apps.accounts.second_factor import REQUIRED_FOR_CHOICES
from apps.core import conf


@register()
def second_factor_settings(app_configs, **kwargs):
    problems = []
    mode = conf.text("AFFILIATEHUB_OTP_REQUIRED_FOR")
    if mode not in REQUIRED_FOR_CHOICES:
        problems.append(
            Error(
                f"AFFILIATEHUB_OTP_REQUIRED_FOR is {mode!r}.",
                hint=f"Use one of {', '.join(REQUIRED_FOR_CHOICES)}.",
                id="accounts.E001",
            )
        )
    exempt = list(conf.items("AFFILIATEHUB_OTP_EXEMPT_USERNAMES"))
    if exempt and not settings.DEBUG:
        problems.append(
            Warning(
                f"Second factor exempted for {', '.join(exempt)} outside DEBUG.",
                hint="AFFILIATEHUB_OTP_EXEMPT_USERNAMES is meant for the `make run` demo only.",
                id="accounts.W001",
            )
        )
    return problems
