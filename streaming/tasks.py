"""Celery tasks of the live engine's side: carrying out scenario and replay runs (calls/ queues them by name,
``calls.scenarios.runs.RUN_TASK``; the worker must share the server's database)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from calls.scenario_models import ScenarioRun
from streaming.scenarios.execute import run_replay
from streaming.scenarios.execute import run_scenario as run_scenario_now


@shared_task(ignore_result=True, time_limit=900, soft_time_limit=840)
def run_scenario(run_id: int, base_url: str, version: int | None = None) -> str:
    """Run the prepared ScenarioRun ``run_id`` against the server at ``base_url``; returns its status."""
    run = ScenarioRun.objects.select_related("scenario", "agent").filter(pk=run_id).first()
    if run is None or run.status != ScenarioRun.Status.RUNNING:
        return "gone"
    token = settings.PLIVO_AUTH_TOKEN or ""
    if run.kind == ScenarioRun.Kind.REPLAY:
        return run_replay(run, base_url=base_url, auth_token=token, version=version).status
    return run_scenario_now(run, base_url=base_url, auth_token=token, version=version).status
