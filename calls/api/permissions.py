"""Who may do what: any active key reads; placing calls needs a key with the "call" scope."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from calls.api_keys import ApiKey


class HasApiKey(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


class CanPlaceCalls(permissions.BasePermission):
    message = "This API key may only read; placing calls needs a key with the 'call' scope."
    code = "insufficient_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return isinstance(request.auth, ApiKey) and request.auth.scope == ApiKey.Scope.CALL
