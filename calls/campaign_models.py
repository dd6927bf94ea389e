"""Campaigns: an agent calls a list of people, within calling windows, under a concurrency cap, with retries."""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def every_weekday() -> list[int]:
    return [0, 1, 2, 3, 4]


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        PAUSED = "paused"
        CANCELLED = "cancelled"
        COMPLETED = "completed"

    name = models.CharField(max_length=120)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="campaigns")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    from_number = models.CharField(
        max_length=16, blank=True, help_text="Caller ID: one of the agent's numbers (empty: its first)."
    )
    window_days = models.JSONField(
        default=every_weekday, help_text="Weekdays calls may be placed, 0 = Monday … 6 = Sunday."
    )
    window_start = models.TimeField(default=time(9, 0), help_text="Earliest local time of a call.")
    window_end = models.TimeField(default=time(18, 0), help_text="Latest local time a call may start.")
    timezone = models.CharField(
        max_length=64, blank=True, help_text="IANA zone for every row; empty: each callee's zone from their number."
    )
    max_concurrent = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(500)], help_text="Calls in flight at once."
    )
    max_attempts = models.PositiveIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(10)])
    retry_delay_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )
    retry_no_answer = models.BooleanField(default=True)
    retry_busy = models.BooleanField(default=True)
    retry_voicemail = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CampaignRow(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CALLING = "calling"
        RETRY = "retry"
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"
        CANCELLED = "cancelled"

    class Outcome(models.TextChoices):
        REACHED = "reached"
        VOICEMAIL = "voicemail"
        NO_ANSWER = "no-answer"
        BUSY = "busy"
        FAILED = "failed"
        DO_NOT_CALL = "do-not-call"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField(help_text="The row's line in the uploaded CSV.")
    phone = models.CharField(max_length=16, help_text="E.164.")
    variables = models.JSONField(default=dict, blank=True)
    timezone = models.CharField(max_length=64, blank=True, help_text="The callee's IANA zone.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    last_call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign_rows"
    )
    error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "phone"], name="unique_phone_per_campaign")]

    def __str__(self) -> str:
        return f"{self.phone} ({self.status})"


class DoNotCall(models.Model):
    """A number no campaign ever calls."""

    number = models.CharField(max_length=16, unique=True, help_text="E.164.")
    reason = models.CharField(max_length=200, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]
        verbose_name = "do-not-call number"

    def __str__(self) -> str:
        return self.number
