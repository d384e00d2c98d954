"""`manage.py collectstatic` with production's storage (hashed names and a manifest) succeeds:
every file a static file refers to exists (a vendored script naming a source map that is not
shipped made it fail, so production could not be deployed as docs/operations.md says)."""

import json

from django.core.management import call_command


def test_collectstatic_with_the_production_storage(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_USE_FINDERS = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    assert "vendor/chart.umd.js" in manifest["paths"]
    assert "admin/css/base.css" in manifest["paths"]
