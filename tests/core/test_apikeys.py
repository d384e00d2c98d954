from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.core.models import ApiKey, AuditLog
from apps.core.services import apikey_create, hash_api_key


@pytest.mark.django_db
def test_command_prints_key_once_and_stores_only_its_hash():
    out = StringIO()
    call_command(
        "apikey_create", "crm-prod", "--scopes", "registrations:write", "players:read", stdout=out
    )
    plaintext = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(name="crm-prod")
    assert plaintext.startswith("ahk_")
    assert key.key_hash == hash_api_key(plaintext)
    assert plaintext not in str(ApiKey.objects.values_list().get(pk=key.pk))
    assert key.scopes == ["players:read", "registrations:write"]
    assert AuditLog.objects.filter(action="apikey.created", object_id=str(key.pk)).exists()


@pytest.mark.django_db
def test_command_rejects_unknown_scope_and_duplicate_name():
    with pytest.raises(CommandError, match="Unknown scopes: admin:all"):
        call_command("apikey_create", "x", "--scopes", "admin:all", stdout=StringIO())
    apikey_create(name="dup", scopes=[])
    with pytest.raises(CommandError, match="already exists"):
        call_command("apikey_create", "dup", "--scopes", "players:read", stdout=StringIO())
