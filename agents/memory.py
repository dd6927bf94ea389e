"""What an agent remembers about a caller across calls (when the agent's memory is on)."""

from __future__ import annotations

from django.db import models


class CallerNote(models.Model):
    """A note the agent kept about a caller (the ``remember`` tool); erased with the caller's memory."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="caller_notes")
    number = models.CharField(max_length=255, db_index=True, help_text="The caller's number (E.164) or SIP URI.")
    text = models.TextField()
    call_uuid = models.CharField(max_length=128, blank=True, help_text="The call the note was taken on.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.number}: {self.text[:60]}"
