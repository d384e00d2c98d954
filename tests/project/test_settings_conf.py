"""One settings convention, read in one module (issue 14 §5): flat AFFILIATEHUB_* settings,
every one with its default in apps/core/conf.py, and no other module reading them directly."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from apps.core import conf
from apps.core.checks import check_no_nested_settings

APPS = Path(__file__).resolve().parents[2] / "apps"
DIRECT_READ = re.compile(r"settings\.AFFILIATEHUB|getattr\(\s*settings,\s*[\"']AFFILIATEHUB")
# Out of this change's bounds (being reworked in parallel); converted when merged.
NOT_YET_CONVERTED: set[str] = set()


def test_every_project_setting_has_its_default_in_conf():
    names = {name for name in dir(settings) if name.startswith("AFFILIATEHUB_")}
    assert names, "the settings module sets AFFILIATEHUB_* names"
    assert names - set(conf.DEFAULTS) == set()


def test_no_module_reads_project_settings_but_conf():
    readers = set()
    for path in APPS.rglob("*.py"):
        relative = path.relative_to(APPS).as_posix()
        if relative == "core/checks.py" or relative in NOT_YET_CONVERTED:
            continue
        if "migrations" in path.parts:  # frozen at the time they were written
            continue
        if DIRECT_READ.search(path.read_text()):
            readers.add(relative)
    assert readers == set(), "read these through apps.core.conf"


def test_an_unknown_name_is_an_error_not_a_silent_default():
    with pytest.raises(KeyError):
        conf.get("AFFILIATEHUB_NO_SUCH_SETTING")


def test_accessors_fall_back_and_convert():
    with override_settings(AFFILIATEHUB_OPERATOR_TIME_ZONE="", TIME_ZONE="Europe/Malta"):
        assert conf.operator_time_zone() == "Europe/Malta"
    with override_settings(AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS="a.example, b.example:8443"):
        assert conf.items("AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS") == ("a.example", "b.example:8443")
    with override_settings(AFFILIATEHUB_PARK_MAX_AGE=90):
        assert conf.duration("AFFILIATEHUB_PARK_MAX_AGE").total_seconds() == 90


def test_the_former_nested_dict_is_reported_not_silently_ignored():
    assert check_no_nested_settings() == []
    with override_settings(AFFILIATEHUB={"PAYOUT_FX_LOCK": "disbursement"}):
        (warning,) = check_no_nested_settings()
    assert warning.id == "core.W001" and "AFFILIATEHUB_PAYOUT_FX_LOCK" in warning.hint
