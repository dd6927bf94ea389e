"""Keys for the REST API: created and revoked in the admin, stored hashed, shown once, scoped."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read"
        CALL = "call", "Read and place calls"

    name = models.CharField(max_length=100, help_text="Who or what uses the key, e.g. “CRM integration”.")
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="The key's visible start.")
    key_hash = models.CharField(max_length=128, editable=False)
    scope = models.CharField(max_length=4, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
