"""Test scenarios for agents, run through the real engine, and their runs (including replays of real calls)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Scenario(models.Model):
    """A caller script (or a simulated caller with a persona and a goal) and what the agent must do."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=120)
    script = models.JSONField(
        default=list,
        blank=True,
        help_text='Caller steps, e.g. [{"say": "What are your hours?"}, {"say": "Book me", "barge_in_ms": 800}, '
        '{"dtmf": "1"}, {"wait_ms": 2000}].',
    )
    caller_persona = models.TextField(blank=True, help_text="With an LLM configured: who the simulated caller is.")
    caller_goal = models.TextField(blank=True, help_text="With an LLM configured: what the simulated caller wants.")
    max_turns = models.PositiveIntegerField(default=6, validators=[MinValueValidator(1), MaxValueValidator(30)])
    expectations = models.JSONField(
        default=list,
        blank=True,
        help_text='e.g. [{"must_say": "nine to five"}, {"must_not_say": "sorry"}, {"tool": "order_status"}, '
        '{"ends": "hangup"}, {"field": "order_id", "equals": "1234"}, {"latency_p95_ms": 1500}].',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agent", "name"]
        constraints = [models.UniqueConstraint(fields=["agent", "name"], name="unique_scenario_name")]

    def __str__(self) -> str:
        return self.name


class ScenarioRun(models.Model):
    class Kind(models.TextChoices):
        SCENARIO = "scenario"
        REPLAY = "replay", "Replay of a real call"

    class Status(models.TextChoices):
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SCENARIO)
    scenario = models.ForeignKey(Scenario, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="scenario_runs")
    agent_version = models.ForeignKey(
        "agents.AgentVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    draft = models.BooleanField(default=False, help_text="Ran the agent's draft.")
    source_call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    call = models.ForeignKey(
        "calls.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="scenario_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    results = models.JSONField(default=list, blank=True, help_text="Per expectation: what, passed, why.")
    transcript = models.JSONField(default=list, blank=True)
    latencies = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"
