"""A scenario's caller: the script's validated steps → the simulator's caller turns; and whether a scenario has a
caller at all (script lines, a simulated caller with a persona and a goal, or both: the lines first).

Steps, in order: ``{"say": "text"}`` (spoken by the offline TTS), ``{"wav": "/path/file.wav"}``, ``{"dtmf": "1#"}``,
``{"wait_ms": 2000}`` (more silence before the next step). ``"barge_in_ms": N`` on a say/wav step makes the caller
start it N ms after the agent's reply starts (one N per scenario: the first given), instead of waiting for the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DTMF_KEYS = set("0123456789*#ABCD")
STEP_KINDS = ("say", "wav", "dtmf", "wait_ms")
MAX_WAIT_MS = 30_000
MAX_STEPS = 60


@dataclass(frozen=True)
class Step:
    """One caller turn: say ``text``, play ``wav`` or press ``dtmf``, after ``silence_ms`` (None: the usual)."""

    text: str | None = None
    wav: str | None = None
    dtmf: str | None = None
    silence_ms: int | None = None


@dataclass
class CallerPlan:
    """What the simulator needs: the turns, which of them barge in, and after how long."""

    turns: list[Step] = field(default_factory=list)
    barging: set[int] = field(default_factory=set)
    barge_in_ms: int | None = None


def _step_error(step: Any) -> str:
    if not isinstance(step, dict):
        return f"an object with one of {', '.join(STEP_KINDS)}"
    kinds = [k for k in STEP_KINDS if k in step]
    if len(kinds) != 1:
        return f"exactly one of {', '.join(STEP_KINDS)}"
    kind = kinds[0]
    if extra := set(step) - {kind, "barge_in_ms"}:
        return f"unknown key(s) {', '.join(sorted(extra))}"
    value = step[kind]
    if "barge_in_ms" in step:
        barge = step["barge_in_ms"]
        if kind not in ("say", "wav"):
            return "barge_in_ms goes with a say or wav step"
        if isinstance(barge, bool) or not isinstance(barge, int) or not 0 <= barge <= MAX_WAIT_MS:
            return f"barge_in_ms is a whole number of milliseconds, 0 to {MAX_WAIT_MS}"
    if kind == "say" and (not isinstance(value, str) or not value.strip()):
        return "say needs some text"
    if kind == "wav" and (not isinstance(value, str) or not Path(value).is_file()):
        return f"no such WAV file: {value!r}"
    if kind == "dtmf" and (not isinstance(value, str) or not value or set(value) - DTMF_KEYS):
        return f"DTMF digits are 0-9 * # A-D, got {value!r}"
    if kind == "wait_ms" and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_WAIT_MS):
        return f"wait_ms is a whole number of milliseconds, 1 to {MAX_WAIT_MS}"
    return ""


def validate(script: Any) -> list[str]:
    """Every problem of a script, each naming the step (empty: valid)."""
    if not isinstance(script, list):
        return ['The script must be a list of steps, e.g. [{"say": "What are your hours?"}].']
    if len(script) > MAX_STEPS:
        return [f"The script has {len(script)} steps; at most {MAX_STEPS}."]
    problems = [f"Step {n}: {error}." for n, step in enumerate(script, 1) if (error := _step_error(step))]
    if not problems and script and not any(k in s for s in script for k in ("say", "wav", "dtmf")):
        problems.append("The script only waits: add a say, wav or dtmf step.")
    return problems


def simulated(persona: str, goal: str) -> bool:
    """Whether a scenario has a simulated caller (an LLM playing ``persona`` towards ``goal``)."""
    return bool(persona.strip() and goal.strip())


def validate_caller(script: Any, persona: str, goal: str) -> list[str]:
    """What is missing for a scenario to have a caller (empty: it has one)."""
    if bool(persona.strip()) != bool(goal.strip()):
        missing = "goal" if persona.strip() else "persona"
        return [f"A simulated caller needs both a persona and a goal: add the {missing}."]
    if not script and not simulated(persona, goal):
        return ["A scenario needs a caller: script lines, or a persona and a goal for a simulated caller (LLM)."]
    return []


def plan(script: list[dict], silence_ms: int) -> CallerPlan:
    """The caller turns of a valid script (``validate`` first); ``silence_ms``: the usual pause before a turn."""
    result, extra_wait = CallerPlan(), 0
    for step in script:
        if "wait_ms" in step:
            extra_wait += int(step["wait_ms"])
            continue
        silence = silence_ms + extra_wait if extra_wait else None
        extra_wait = 0
        if "dtmf" in step:
            result.turns.append(Step(dtmf=step["dtmf"], silence_ms=silence))
            continue
        turn = Step(text=step.get("say"), wav=step.get("wav"), silence_ms=silence)
        if "barge_in_ms" in step:
            result.barging.add(len(result.turns))
            if result.barge_in_ms is None:
                result.barge_in_ms = int(step["barge_in_ms"])
        result.turns.append(turn)
    return result
