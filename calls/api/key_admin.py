"""API keys in the admin: create (name + scope; the full key is shown once), list, revoke. The hash never shows."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from calls.api_keys import ApiKey, revoke_key, set_new_secret


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scope", "created_at", "created_by", "last_used_at", "revoked_at", "is_active"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["name", "scope"]
        return ["name", "prefix", "scope", "created_at", "created_by", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["prefix", "scope", "created_at", "created_by", "last_used_at", "revoked_at"]

    @admin.display(boolean=True, description="active")
    def is_active(self, key: ApiKey) -> bool:
        return key.active

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        raw = set_new_secret(obj)
        obj.created_by = request.user if request.user.is_authenticated else None
        super().save_model(request, obj, form, change)
        self.message_user(
            request,
            f"The API key “{obj.name}” is {raw} — copy it now: it is shown only this once (only its hash is "
            "stored). Send it as 'Authorization: Bearer <key>'.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys (refused from the next request on)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(revoke_key(key) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
