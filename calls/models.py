"""What happened on a call: the call itself, its turns, and its events."""

from __future__ import annotations

from django.db import models

from agents.models import Agent, PhoneNumber


class Call(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RINGING = "ringing"
        IN_PROGRESS = "in-progress"
        COMPLETED = "completed"
        FAILED = "failed"
        NO_AGENT = "no-agent"
        REJECTED = "rejected"
        NO_ANSWER = "no-answer"
        BUSY = "busy"
        CANCELLED = "cancelled"

    class AnsweredBy(models.TextChoices):
        HUMAN = "human"
        VOICEMAIL = "voicemail"
        UNKNOWN = "unknown"

    class Sentiment(models.TextChoices):
        POSITIVE = "positive"
        NEUTRAL = "neutral"
        NEGATIVE = "negative"

    class Analysis(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    call_uuid = models.CharField("Plivo CallUUID", max_length=128, unique=True)
    stream_id = models.CharField(max_length=128, blank=True)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    agent_snapshot = models.JSONField(default=dict, blank=True)
    agent_version = models.PositiveIntegerField(null=True, blank=True)
    phone_number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    from_number = models.CharField(max_length=255, blank=True, help_text="E.164, or a SIP URI as sent.")
    to_number = models.CharField(max_length=255, blank=True, help_text="E.164, or a SIP URI as sent.")
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)
    mode = models.CharField(
        max_length=10,
        choices=[("agent", "AI agent"), ("listen", "Listen (people talk, we transcribe)")],
        default="agent",
        db_index=True,
    )
    request_uuid = models.CharField(
        "Plivo RequestUUID", max_length=128, blank=True, db_index=True, help_text="Outbound calls: from calls.create."
    )
    variables = models.JSONField(
        default=dict, blank=True, help_text="Fill the agent's {{placeholders}} (outbound: given; inbound: the call's)."
    )
    answered_by = models.CharField(
        max_length=10, choices=AnsweredBy.choices, blank=True, help_text="Outbound: Plivo's machine detection."
    )
    in_memory = models.BooleanField(
        default=True, help_text="The agent may remember this call's summary (off once the caller's memory is erased)."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RINGING, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    stream_started_at = models.DateTimeField(null=True, blank=True)
    stream_ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the process holding the call's stream."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    hangup_cause = models.CharField(max_length=100, blank=True)
    hangup_data = models.JSONField(default=dict, blank=True)

    summary = models.TextField(blank=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    sentiment_reason = models.CharField(max_length=300, blank=True)
    extracted_data = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    analysis_status = models.CharField(max_length=10, choices=Analysis.choices, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    error_notes = models.TextField(blank=True)
    recording_path = models.CharField(
        max_length=300, blank=True, help_text="Relative to RECORDINGS_DIR; served only to permitted staff."
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_call_records", "Can browse calls, transcripts and recordings"),
            ("hangup_call", "Can hang up live calls from the live page"),
        ]

    def __str__(self) -> str:
        return f"{self.from_number} → {self.to_number} ({self.call_uuid})"

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.RINGING, self.Status.IN_PROGRESS) and self.stream_ended_at is None

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def add_error_note(self, note: str) -> None:
        self.error_notes = f"{self.error_notes}\n{note}".strip()


FINISHED_STATUSES = (
    Call.Status.COMPLETED,
    Call.Status.FAILED,
    Call.Status.NO_AGENT,
    Call.Status.REJECTED,
    Call.Status.NO_ANSWER,
    Call.Status.BUSY,
    Call.Status.CANCELLED,
)


class Turn(models.Model):
    class Role(models.TextChoices):
        CALLER = "caller"
        AGENT = "agent"
        PERSON = "person", "Person (listen mode: who answered)"
        SYSTEM = "system"
        TOOL = "tool"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="turns")
    sequence = models.PositiveIntegerField()
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True)
    start_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Offset from the stream start.")
    end_ms = models.PositiveIntegerField(null=True, blank=True)
    interrupted = models.BooleanField(default=False)
    heard_text = models.TextField(blank=True, help_text="What the caller actually heard of an agent turn.")
    resumed = models.BooleanField(
        default=False, help_text="The caller's voice paused this agent turn (a backchannel or noise) and it went on."
    )
    latency = models.JSONField(default=dict, blank=True)
    tool_calls = models.JSONField(
        default=list, blank=True, help_text="Tools the agent called in this turn: name, arguments, status, result."
    )
    usage = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["call", "sequence"]
        constraints = [models.UniqueConstraint(fields=["call", "sequence"], name="unique_turn_sequence")]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"

    @property
    def unheard_text(self) -> str:
        if self.interrupted and self.text.startswith(self.heard_text):
            return self.text[len(self.heard_text) :]
        return ""


class CallEvent(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=40, db_index=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.time:%H:%M:%S}"


from calls.api_keys import ApiKey  # noqa: E402 - models of this app, in their own modules
from calls.campaign_models import Campaign, CampaignRow, DoNotCall  # noqa: E402
from calls.scenario_models import Scenario, ScenarioRun  # noqa: E402

__all__ = [
    "ApiKey",
    "Call",
    "CallEvent",
    "Campaign",
    "CampaignRow",
    "DoNotCall",
    "Scenario",
    "ScenarioRun",
    "Turn",
]
