"""The simulator as a scenario's caller: places the call a scenario or replay prepared (calls/scenarios/) and
returns what the caller observed, as plain data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from calls.scenarios.script import CallerPlan
from streaming.simulator.client import run_call
from streaming.simulator.config import CallerTurn, CallScript
from streaming.simulator.plivo_http import SimulatorError
from streaming.simulator.report import CallResult

SILENCE_MS = 600  # the caller's pause once the agent has finished
HANG_UP_AFTER_MS = 1500


class PlacementFailed(Exception):
    """The simulated call could not be placed (server unreachable, signature refused, no stream)."""


def call_script(
    *,
    call_uuid: str,
    to: str,
    caller: str,
    plan: CallerPlan,
    base_url: str,
    auth_token: str = "",
    extra_seconds: float = 0.0,
    next_turn: Callable[[int], Awaitable[CallerTurn | None]] | None = None,
) -> CallScript:
    """The simulator's script for a prepared call: ``plan``'s turns (then ``next_turn``'s, if given)."""
    turns = [CallerTurn(text=s.text, wav=s.wav, dtmf=s.dtmf, silence_ms=s.silence_ms) for s in plan.turns]
    barging = set(plan.barging)
    return CallScript(
        to=to,
        caller=caller,
        call_uuid=call_uuid,
        turns=turns,
        base_url=base_url,
        auth_token=auth_token,
        silence_ms=SILENCE_MS,
        barge_in_after_ms=plan.barge_in_ms,
        barges_in=lambda index: index in barging,
        max_seconds=min(600.0, 30.0 + 20.0 * len(turns) + extra_seconds),
        hang_up_after_ms=HANG_UP_AFTER_MS,
        next_turn=next_turn,
    )


def observed(result: CallResult) -> dict:
    """What the caller observed, as plain data: ``{"greeting_ms", "voice_to_voice_ms", "ended_by", "error"}``."""
    return {
        "greeting_ms": result.greeting_ms,
        "voice_to_voice_ms": [round(ms, 1) for ms in result.voice_to_voice_ms],
        "ended_by": result.ended_by,
        "error": result.error,
    }


def place(*, call_uuid: str, to: str, caller: str, plan: CallerPlan, base_url: str, auth_token: str = "") -> dict:
    """Place the prepared call (blocking): ``observed`` of its result."""
    config = call_script(call_uuid=call_uuid, to=to, caller=caller, plan=plan, base_url=base_url, auth_token=auth_token)
    try:
        return observed(asyncio.run(run_call(config)))
    except SimulatorError as exc:
        raise PlacementFailed(str(exc)) from None
