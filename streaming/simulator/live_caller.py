"""A caller who decides each turn during the call (``CallScript.next_turn``, e.g. an LLM playing a persona).

Each time the agent has finished (the same wait the scripted turns use: playout empty, checkpoint acknowledged), the
call awaits ``next_turn(index)``; the turn's speech is synthesized off the event loop (the offline TTS of scripted
turns) and said after the usual pause, counted from the agent's end (the time the caller took to decide is part of
it), or its keys pressed. None: the caller is done (the script then hangs up after ``hang_up_after_ms``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from streaming.simulator.audio_source import AudioSourceError, caller_audio
from streaming.simulator.plivo_http import BadInput

if TYPE_CHECKING:
    from streaming.simulator.client import SimulatedCall


async def converse(call: SimulatedCall, index: int) -> None:
    """Ask for, and say, the live caller's turns from turn ``index`` (0-based) on, until it returns None."""
    cfg = call.config
    if cfg.next_turn is None:
        return
    while True:
        await call._wait_agent_done(cfg.reply_timeout_s)
        finished = time.monotonic()
        turn = await cfg.next_turn(index)
        if turn is None:
            return
        silence = (cfg.silence_ms if turn.silence_ms is None else turn.silence_ms) / 1000
        if turn.dtmf:
            await asyncio.sleep(max(0.0, finished + silence - time.monotonic()))
            await call._press(turn.dtmf)
        else:
            rate = turn.rate or cfg.speaking_rate
            try:
                sound = await asyncio.to_thread(caller_audio, turn.text, turn.wav, language=cfg.language, rate=rate)
            except AudioSourceError as exc:
                raise BadInput(f"caller turn {index + 1}: {exc}") from None
            await asyncio.sleep(max(0.0, finished + silence - time.monotonic()))
            await call._speak(index + 1, turn, sound, barge=False)
        index += 1
