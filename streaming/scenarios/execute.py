"""Carry out a scenario or replay run through the real server path: prepare the Call with the snapshot to test
(calls/scenarios/prepared.py), place it with the simulator (signed answer webhook, stream socket, paced audio),
then read what the server recorded and judge it (calls/scenarios/runs.py, expectations.py, replay.py). A scenario
with a persona and a goal adds a simulated caller (an LLM: simulated_caller.py) after its script. Needs the server's
database."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from agents.versions import AgentVersion
from calls.models import Call
from calls.scenario_models import Scenario, ScenarioRun
from calls.scenarios import expectations, replay, script
from calls.scenarios.prepared import prepare_call
from calls.scenarios.runs import (
    RunError,
    finish,
    latencies_of,
    outcome_of,
    snapshot_for,
    transcript_of,
    wait_for,
)
from streaming.providers.openai.client import configured as llm_configured
from streaming.scenarios.caller import PlacementFailed, place
from streaming.scenarios.simulated_caller import NEEDS_LLM, place_simulated

log = logging.getLogger(__name__)

SILENCE_MS = 600  # the caller's pause once the agent has finished (the simulator's default too)


def execute(
    run: ScenarioRun, caller: script.CallerPlan, snapshot: dict, version: int | None, *, base_url: str, auth_token: str,
    finalized: bool = False, variables: dict | None = None, simulated: Scenario | None = None,
) -> tuple[Call, dict, list[dict]]:  # fmt: skip
    """Prepare and place the call of ``run``; the call, the simulator's result and the stored transcript.
    ``simulated``: the scenario whose persona and goal a simulated caller plays after ``caller``'s turns."""
    call = prepare_call(run.agent, snapshot, version, variables)
    run.call = call
    run.agent_version = AgentVersion.objects.filter(agent=run.agent, number=version).first() if version else None
    run.save(update_fields=["call", "agent_version"])
    try:
        if simulated is None:
            result = place(call_uuid=call.call_uuid, to=call.to_number, caller=call.from_number, plan=caller,
                           base_url=base_url, auth_token=auth_token)  # fmt: skip
        else:
            result = place_simulated(simulated, call, snapshot, caller, base_url=base_url, auth_token=auth_token)
    except PlacementFailed as exc:
        raise RunError(f"The simulated call failed: {exc}") from None
    call = wait_for(call, finalized=finalized)
    return call, result, transcript_of(call)


def run_scenario(run: ScenarioRun, *, base_url: str, auth_token: str = "", version: int | None = None) -> ScenarioRun:
    """Carry out a scenario run: passed, failed (each failed expectation named in ``results``) or error."""
    scenario = run.scenario
    try:
        if scenario is None:
            raise RunError("The scenario was deleted.")
        persona, goal = scenario.caller_persona, scenario.caller_goal
        problems = script.validate(scenario.script) + script.validate_caller(scenario.script, persona, goal)
        if problems := problems + expectations.validate(scenario.expectations):
            raise RunError(" ".join(problems))
        simulated = scenario if script.simulated(persona, goal) else None
        if simulated is not None and not llm_configured():
            raise RunError(NEEDS_LLM)
        snapshot, number = snapshot_for(run.agent, draft=run.draft, version=version)
        finalized = any(expectations.kind_of(e) == "field" for e in scenario.expectations)
        caller = script.plan(scenario.script, SILENCE_MS)
        call, result, transcript = execute(
            run, caller, snapshot, number, base_url=base_url, auth_token=auth_token, finalized=finalized,
            simulated=simulated,
        )  # fmt: skip
    except RunError as exc:
        return finish(run, ScenarioRun.Status.ERROR, error=str(exc))
    except Exception as exc:  # never a run stuck in "running"
        log.exception("Scenario run %s failed", run.pk)
        return finish(run, ScenarioRun.Status.ERROR, error=f"{type(exc).__name__}: {exc}")
    results = expectations.judge(scenario.expectations, outcome_of(call, transcript, result))
    latencies = latencies_of(result) | ({"simulated_caller": result["simulated_caller"]} if simulated else {})
    error = result.get("error", "") if result.get("ended_by") == "error" else ""
    if error:
        return finish(run, ScenarioRun.Status.ERROR, results=results, transcript=transcript,
                      latencies=latencies, error=error)  # fmt: skip
    status = ScenarioRun.Status.PASSED if all(r["passed"] for r in results) else ScenarioRun.Status.FAILED
    return finish(run, status, results=results, transcript=transcript, latencies=latencies)


def run_replay(run: ScenarioRun, *, base_url: str, auth_token: str = "", version: int | None = None) -> ScenarioRun:
    """Carry out a replay run: ``results`` holds the comparison rows; passed when no answer changed."""
    source = run.source_call
    try:
        if source is None:
            raise RunError("The original call was deleted.")
        original = transcript_of(source)
        with tempfile.TemporaryDirectory(prefix="replay-") as workdir:
            plan, origin = replay.caller_plan(source, Path(workdir))
            if not plan.turns:
                raise RunError("The original call has no caller turns to replay.")
            snapshot, number = snapshot_for(run.agent, draft=run.draft, version=version)
            variables = dict(source.variables or {})
            _, result, transcript = execute(
                run, plan, snapshot, number, base_url=base_url, auth_token=auth_token, variables=variables
            )
    except RunError as exc:
        return finish(run, ScenarioRun.Status.ERROR, error=str(exc))
    except Exception as exc:
        log.exception("Replay run %s failed", run.pk)
        return finish(run, ScenarioRun.Status.ERROR, error=f"{type(exc).__name__}: {exc}")
    rows = replay.compare(original, transcript)
    latencies = latencies_of(result) | {"source": origin}
    status = ScenarioRun.Status.PASSED if all(r["same"] for r in rows) else ScenarioRun.Status.FAILED
    return finish(run, status, results=rows, transcript=transcript, latencies=latencies)
