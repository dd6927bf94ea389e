"""API key authentication: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from calls.api_keys import ApiKey, find_key, note_use


class KeyRevoked(exceptions.AuthenticationFailed):
    default_detail = "This API key has been revoked."
    default_code = "key_revoked"


class ApiKeyUser:
    """The request's user: the key itself (API requests never act as a staff account)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.pk = self.id = key.pk
        self.username = f"api-key:{key.prefix}"

    def __str__(self) -> str:
        return self.username


def raw_key(request: Request) -> str | None:
    """The key the request presents, "" for a malformed header, None for none."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    api_key = request.META.get("HTTP_X_API_KEY")
    return None if api_key is None else api_key.strip()


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        raw = raw_key(request)
        if raw is None:
            return None  # → 401 "not_authenticated" from the permission check
        if not raw:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
                code="invalid_key",
            )
        key = find_key(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.", code="invalid_key")
        if not key.active:
            raise KeyRevoked()
        note_use(key)
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from the admin (API keys), e.g. `Authorization: Bearer vk_…`. "
            "`X-API-Key: vk_…` works too.",
        }
