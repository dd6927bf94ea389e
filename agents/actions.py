"""What an agent can do besides talking: HTTP tools it calls mid-call, and named transfer destinations."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from agents.validators import validate_identifier


def new_signing_secret() -> str:
    from agents.models import new_webhook_secret

    return new_webhook_secret()


class Tool(models.Model):
    """An HTTPS endpoint of the business's own systems the LLM may call during a call (OpenAI function calling)."""

    class Method(models.TextChoices):
        GET = "GET"
        POST = "POST"
        PUT = "PUT"
        PATCH = "PATCH"
        DELETE = "DELETE"

    class OnFailure(models.TextChoices):
        LINE = "line", "Say the failure line"
        LLM = "llm", "Let the agent decide (the error goes to the language model)"

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[validate_identifier],
        help_text="The function name the language model sees, e.g. order_status.",
    )
    description = models.TextField(help_text="When to use the tool and what it returns; the language model reads it.")
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text='JSON schema of the arguments, e.g. {"type": "object", "properties": {"order_id": {"type": '
        '"string"}}, "required": ["order_id"]}.',
    )
    url = models.URLField("URL", max_length=500, help_text="https:// only (private addresses need a setting).")
    method = models.CharField(max_length=6, choices=Method.choices, default=Method.POST)
    headers = models.JSONField(
        default=dict, blank=True, help_text="Extra request headers (e.g. Authorization). Never shown after saving."
    )
    signing_secret = models.CharField(
        max_length=64,
        default=new_signing_secret,
        help_text="HMAC-SHA256 key for the request's signature header.",
    )
    timeout_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.5), MaxValueValidator(30.0)], help_text="0.5–30 s."
    )
    wait_line = models.CharField(
        "say while waiting",
        max_length=300,
        blank=True,
        help_text="Spoken when the tool takes longer than about a second, e.g. “Let me check that for you.”",
    )
    on_failure = models.CharField(max_length=4, choices=OnFailure.choices, default=OnFailure.LINE)
    failure_line = models.CharField(
        max_length=300,
        default="Sorry, I can't look that up right now.",
        help_text="Spoken when the tool fails or times out (with “say the failure line”).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_dict(self) -> dict:
        """What a call's snapshot keeps: no headers, no secret (the engine reads those by ``id`` when it calls)."""
        return {
            "id": self.pk,
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters or {"type": "object", "properties": {}},
            "timeout_seconds": self.timeout_seconds,
            "wait_line": self.wait_line,
            "on_failure": self.on_failure,
            "failure_line": self.failure_line,
        }


class TransferDestination(models.Model):
    """A named place the agent may transfer the caller to ("sales", "billing"); the LLM sees name and description."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="transfer_destinations")
    name = models.CharField(max_length=40, validators=[validate_identifier], help_text="e.g. sales, billing.")
    destination = models.CharField(max_length=255, help_text="E.164 number (+14155550100) or SIP URI (sip:…).")
    description = models.CharField(max_length=300, blank=True, help_text="When to transfer here (the LLM reads it).")
    warm = models.BooleanField(
        default=True, help_text="The person who answers hears a short summary first; no answer brings the caller back."
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["agent", "name"], name="unique_destination_per_agent")]

    def __str__(self) -> str:
        return self.name

    def as_dict(self) -> dict:
        return {"name": self.name, "destination": self.destination, "description": self.description, "warm": self.warm}
