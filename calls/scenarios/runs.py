"""Scenario and replay runs, the database side: the snapshot a run tests (published, draft or a version), the
ScenarioRun rows, what the server recorded of a run's call (turns, tool calls, events, extraction), and sending a
run to the worker. The call itself is placed by ``streaming/scenarios/execute.py`` (the simulator), which the worker
reaches through the Celery task named ``RUN_TASK`` (calls/ never imports streaming/)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import DatabaseError
from django.utils import timezone

from agents.models import Agent
from agents.versions import AgentVersion
from calls.models import Call, CallEvent, Turn
from calls.scenario_models import Scenario, ScenarioRun
from calls.scenarios import expectations

log = logging.getLogger(__name__)

RUN_TASK = "streaming.tasks.run_scenario"  # carries out a run (streaming/tasks.py)
STREAM_END_WAIT_S = 15.0
FINALIZE_WAIT_S = 45.0


class RunError(Exception):
    """The run could not take place (bad scenario, unreachable server, unknown version): stored as ``error``."""


def snapshot_for(agent: Agent, *, draft: bool = False, version: int | None = None) -> tuple[dict, int | None]:
    """The configuration a test call runs: an old version's, the draft, or what calls run now (published)."""
    if version is not None:
        found = AgentVersion.objects.filter(agent=agent, number=version).first()
        if found is None:
            raise RunError(f"Agent {agent} has no version {version}.")
        return dict(found.snapshot), found.number
    try:
        from agents.versioning import call_snapshot
    except ImportError:  # before versions and drafts: calls run the agent as it is saved
        return agent.snapshot(), agent.version
    return call_snapshot(agent, draft=draft)


def new_run(agent: Agent, *, kind: str, draft: bool, version: int | None, **fields) -> ScenarioRun:
    found = AgentVersion.objects.filter(agent=agent, number=version).first() if version is not None else None
    return ScenarioRun.objects.create(kind=kind, agent=agent, draft=draft, agent_version=found, **fields)


def wait_for(call: Call, *, finalized: bool) -> Call:
    """The call once the server has written its last turns (and, if asked, its after-call analysis)."""
    deadline = time.monotonic() + STREAM_END_WAIT_S
    while time.monotonic() < deadline:
        call.refresh_from_db()
        if call.stream_ended_at is not None or call.status not in (Call.Status.RINGING, Call.Status.IN_PROGRESS):
            break
        time.sleep(0.1)
    deadline = time.monotonic() + FINALIZE_WAIT_S
    while finalized and call.finalized_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        call.refresh_from_db()
    return call


def transcript_of(call: Call) -> list[dict]:
    rows = Turn.objects.filter(call=call).order_by("sequence")
    return [
        {
            "role": t.role,
            "text": t.text,
            "start_ms": t.start_ms,
            "end_ms": t.end_ms,
            "interrupted": t.interrupted,
            "heard_text": t.heard_text,
            "tool_calls": t.tool_calls or [],
            "latency": t.latency or {},
        }
        for t in rows
    ]


def endings_of(call: Call) -> set[str]:
    kinds = set(CallEvent.objects.filter(call=call).values_list("kind", flat=True))
    endings = {name for name in ("hangup", "transfer", "voicemail") if name in kinds}
    if call.answered_by == Call.AnsweredBy.VOICEMAIL and "hangup" in kinds:
        endings.add("voicemail")
    return endings


def tool_calls_of(call: Call, transcript: Iterable[dict]) -> list[dict]:
    calls = [
        {"name": c.get("name"), "arguments": c.get("arguments") or {}}
        for turn in transcript
        for c in turn["tool_calls"]
        if isinstance(c, dict)
    ]
    if not calls:  # the engine's "tool" events say the same when no turn carried them
        events = CallEvent.objects.filter(call=call, kind="tool").values_list("data", flat=True)
        calls = [{"name": d.get("name"), "arguments": d.get("arguments") or {}} for d in events if isinstance(d, dict)]
    return calls


def latencies_of(result: dict) -> dict:
    v2v = list(result.get("voice_to_voice_ms") or [])
    return {
        "greeting_ms": result.get("greeting_ms"),
        "voice_to_voice_ms": v2v,
        "p50_ms": sorted(v2v)[len(v2v) // 2] if v2v else None,
        "p95_ms": expectations.p95(v2v),
    }


def outcome_of(call: Call, transcript: list[dict], result: dict) -> expectations.Outcome:
    return expectations.Outcome(
        agent_text=[t["text"] for t in transcript if t["role"] == Turn.Role.AGENT],
        tool_calls=tool_calls_of(call, transcript),
        endings=endings_of(call),
        extracted=dict(call.extracted_data or {}),
        voice_to_voice_ms=list(result.get("voice_to_voice_ms") or []),
    )


def finish(run: ScenarioRun, status: str, **fields) -> ScenarioRun:
    for name, value in fields.items():
        setattr(run, name, value)
    run.status, run.finished_at = status, timezone.now()
    try:
        run.save()
    except DatabaseError:
        log.exception("Scenario run %s: could not store its result", run.pk)
    return run


def start_run(scenario: Scenario, *, draft: bool = False, version: int | None = None, started_by=None) -> ScenarioRun:
    """A new ScenarioRun (status running) for ``scenario``; ``run_scenario`` carries it out."""
    return new_run(scenario.agent, kind=ScenarioRun.Kind.SCENARIO, draft=draft, version=version,
                   scenario=scenario, started_by=started_by)  # fmt: skip


def failed_expectations(run: ScenarioRun) -> list[dict]:
    return [r for r in run.results or [] if not r.get("passed")]


def queue_run(run: ScenarioRun, base_url: str, version: int | None = None) -> None:
    """Send the run to the worker (eager in development); with the broker down the run is stored as an error."""
    from celery import current_app

    try:
        current_app.tasks[RUN_TASK].delay(run.pk, base_url, version)
    except Exception as exc:
        log.warning("Could not queue scenario run %s: %s", run.pk, type(exc).__name__)
        finish(run, ScenarioRun.Status.ERROR, error=f"Could not queue the run ({type(exc).__name__}).")
