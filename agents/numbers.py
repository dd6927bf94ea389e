"""The phone numbers that reach an agent: an AI agent answers, or (listen mode) people answer and we transcribe."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from agents.validators import validate_e164


class PhoneNumber(models.Model):
    class Mode(models.TextChoices):
        AGENT = "agent", "The AI agent answers"
        LISTEN = "listen", "Listen: people answer; live transcript, sentiment and alerts"

    class NoAnswer(models.TextChoices):
        HANGUP = "hangup", "Hang up"
        VOICEMAIL = "voicemail", "Say the voicemail message, then hang up"

    number = models.CharField(
        max_length=16,
        unique=True,
        validators=[validate_e164],
        help_text="E.164, e.g. +14155550100.",
        error_messages={"unique": "This number is already assigned to an agent."},
    )
    label = models.CharField(max_length=100, blank=True)
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="phone_numbers")
    enabled = models.BooleanField(default=True)
    takes_draft = models.BooleanField(
        "test number", default=False, help_text="Calls to this number run the agent's draft, not its published version."
    )

    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.AGENT)
    listen_dial = models.CharField(
        "connect to",
        max_length=500,
        blank=True,
        help_text="Listen mode: who the caller is connected to — E.164 numbers or sip: URIs, comma-separated "
        "(all ring at once; the first to answer takes the call).",
    )
    listen_caller_id = models.CharField(
        max_length=16, blank=True, help_text="Listen mode: the caller ID the person sees (empty: the caller's number)."
    )
    listen_timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(120)], help_text="Listen mode: ring time."
    )
    listen_no_answer = models.CharField(max_length=10, choices=NoAnswer.choices, default=NoAnswer.HANGUP)
    listen_voicemail_message = models.CharField(
        max_length=500,
        default="Sorry, nobody can take your call right now. Please call again later. Goodbye!",
        help_text="Listen mode: spoken when nobody answers (with “say the voicemail message”).",
    )
    alert_phrases = models.TextField(
        blank=True,
        help_text="Listen mode: one word or phrase per line (“cancel my account”, “lawyer”); said by either side, "
        "it raises an alert on the live page, on the call and to the agent's webhook.",
    )

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} ({self.label})" if self.label else self.number

    @classmethod
    def route(cls, number: str) -> PhoneNumber | None:
        """The phone number entry for ``number`` (any common spelling), or None."""
        normalized = normalize_number(number)
        return cls.objects.select_related("agent").filter(number=normalized).first()

    @property
    def alert_phrase_list(self) -> list[str]:
        return [p.strip().lower() for p in self.alert_phrases.splitlines() if p.strip()]


def normalize_number(raw: str) -> str:
    """Plivo sends numbers without '+' (``14155550100``); we store E.164."""
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    return f"+{digits}" if digits else ""
