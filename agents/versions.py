"""An agent's history: one immutable version per change that alters behaviour."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AgentVersion(models.Model):
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField(help_text="The whole configuration, as a call runs it.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True, help_text="e.g. “restored from version 3”.")

    class Meta:
        ordering = ["agent", "-number"]
        constraints = [models.UniqueConstraint(fields=["agent", "number"], name="unique_version_number")]

    def __str__(self) -> str:
        return f"{self.agent} v{self.number}"
