"""Scope checks: a view declares `required_scope`; keys must carry it."""

from __future__ import annotations

from rest_framework import permissions

from apps.core.models import ApiKey


class HasScope(permissions.BasePermission):
    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            # No credentials: DRF answers 401 because authenticate_header is set.
            return False
        scope = getattr(view, "required_scope", None)
        if scope is None:
            return False  # every endpoint must name its scope
        if not api_key.has_scope(scope):
            self.message = f"This API key lacks the '{scope}' scope."
            return False
        return True
