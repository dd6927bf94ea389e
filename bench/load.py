"""The load generator: N call slots, each placing simulated Plivo calls back to back, in one asyncio loop per process.

Built on the simulator's public client (``SimulatedCall``): a subclass only records when each agent frame arrived,
the script's ``barges_in`` hook makes every K-th caller turn a barge-in and its ``backchannels`` hook has the caller
say "mm-hmm" over every K-th reply. Results come back as plain dicts (picklable across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx

from streaming.simulator.audio_source import caller_audio
from streaming.simulator.client import SimulatedCall
from streaming.simulator.config import MM_HMM, CallScript
from streaming.simulator.playout import Playout
from streaming.simulator.plivo_http import SimulatorError

# Five words each (so every reply's first sentence has the same number of tokens), none starting with a backchannel
# ("yes", "okay"…) or holding an end-of-call phrase, and no pause inside that either the scripted STT (RMS > 300) or
# the Azure fake (mean |sample| > 1000) could take for the end of the utterance (≥ 160 ms; at most 100 ms here).
PHRASES = (
    "what are your opening hours",
    "where is your office located",
    "do you deliver on sundays",
    "can I change my order",
    "when do you open tomorrow",
)


BACKCHANNEL = MM_HMM  # what the caller says over a reply (~420 ms): a backchannel for the engine, not a turn


def phrase_of_turn(turn: int) -> str:
    """What the caller says in turn ``turn`` (1-based) of every call."""
    return PHRASES[(turn - 1) % len(PHRASES)]


def call_transcripts(turns: int, backchannel_every: int) -> list[str]:
    """Every call's utterances in order, for the scripted STT (SCRIPTED_TRANSCRIPTS): each turn's phrase, and the
    backchannel after the turns whose reply it is said over."""
    said = []
    for index in range(turns):
        said.append(phrase_of_turn(index + 1))
        if backchannels(backchannel_every, index):
            said.append(BACKCHANNEL.text or "")
    return said


@dataclass
class LoadPlan:
    base_url: str
    to: str
    auth_token: str
    slots: range  # which of the run's call slots this process drives
    total_slots: int
    start_at: float  # epoch seconds when slot 0 starts
    seconds: float  # slots place new calls until start_at + seconds
    ramp_s: float
    turns: int = 3
    barge_every: int = 0
    barge_after_ms: int = 600
    backchannel_every: int = 0
    backchannel_after_ms: int = 600
    silence_ms: int = 800
    max_call_s: float = 90.0
    use_uvloop: bool = True
    stream_base: str = ""  # --split: the audio process (webhooks go to base_url, the web process)


@dataclass
class RecordingPlayout(Playout):
    """Plivo's playout, also recording each agent frame's lateness (the simulator's public Playout, extended).

    Lateness of a frame = its arrival time minus the time the caller's buffer runs dry without it (the end of the
    audio received before it). Positive: the caller heard a gap of that length (an underrun). Negative: that much
    audio was still buffered. The first frame of each utterance (after a checkpoint or clearAudio, or the first of
    the call) is not counted: its timing is a latency, measured as voice-to-voice or greeting.
    """

    lateness_ms: list[float] = field(default_factory=list)

    def audio(self, payload: bytes) -> float:
        if self.in_utterance:
            self.lateness_ms.append(round((self.clock() - self.play_until) * 1000, 2))
        return super().audio(payload)


def barges_in(barge_every: int, index: int) -> bool:
    """Whether caller turn ``index`` (0-based) interrupts the agent's reply: every ``barge_every``-th (0: none)."""
    return index > 0 and barge_every > 0 and (index + 1) % barge_every == 0


def backchannels(every: int, index: int) -> bool:
    """Whether the caller says the backchannel over the reply to caller turn ``index`` (0-based): every
    ``every``-th turn's (0: none)."""
    return every > 0 and (index + 1) % every == 0


class BenchCall(SimulatedCall):
    """A simulated call that records each agent frame's lateness (``RecordingPlayout``)."""

    def __init__(self, config: CallScript, http: httpx.AsyncClient) -> None:
        super().__init__(config, http)
        self.playout = RecordingPlayout()


def call_summary(call: BenchCall, started: float, error: str) -> dict:
    """The figures of one call, as a plain dict."""
    result = call.result
    return {
        "call_uuid": result.call_uuid,
        "started": started,
        "ended": time.time(),
        "ended_by": result.ended_by,
        "error": error or result.error,
        "close_code": result.close_code,
        "greeting_ms": result.greeting_ms,
        "connect_ms": result.connect_ms,
        "answers": [
            {
                "turn": a.turn,
                "barge_in": a.barge_in,
                "spoken": a.speech_end_s is not None,
                "voice_to_voice_ms": a.voice_to_voice_ms,
                "barge_in_ms": a.barge_in_reaction_ms,
            }
            for a in result.answers
        ],
        "backchannels": [
            {"turn": b.turn, "spoken": b.speech_end_s is not None, "clear_ms": b.clear_ms, "resume_ms": b.resume_ms}
            for b in result.backchannels
        ],
        "frames_sent": result.frames_sent,
        "frames_received": result.frames_received,
        "clear_audio": result.clear_audio_received,
        "lateness_ms": call.playout.lateness_ms,
        "unknown_events": result.unknown_events[:5],
    }


async def place_call(plan: LoadPlan, http: httpx.AsyncClient, number: int) -> dict:
    turns = [phrase_of_turn(i + 1) for i in range(plan.turns)]
    config = CallScript(
        to=plan.to,
        turns=turns,
        caller=f"+1415555{number % 10000:04d}",
        base_url=plan.base_url,
        stream_base=plan.stream_base,
        auth_token=plan.auth_token,
        silence_ms=plan.silence_ms,
        max_seconds=plan.max_call_s,
        reply_timeout_s=10.0,
        hang_up_after_ms=1000,
        barge_in_after_ms=plan.barge_after_ms,  # on the turns barges_in picks, waiting for the others to finish
        barges_in=functools.partial(barges_in, plan.barge_every),
        backchannel=BACKCHANNEL,
        backchannel_after_ms=plan.backchannel_after_ms,
        backchannels=functools.partial(backchannels, plan.backchannel_every) if plan.backchannel_every else None,
    )
    call = BenchCall(config, http)
    started, error = time.time(), ""
    try:
        await call.run()
    except SimulatorError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except (httpx.HTTPError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    return call_summary(call, started, error)


async def run_slot(plan: LoadPlan, slot: int, http: httpx.AsyncClient, results: list[dict]) -> None:
    """Place calls back to back from this slot's start time; no new call after start_at + seconds."""
    await asyncio.sleep(max(0.0, plan.start_at + slot * plan.ramp_s / plan.total_slots - time.time()))
    deadline, placed = plan.start_at + plan.seconds, 0
    while placed == 0 or time.time() < deadline:
        summary = await place_call(plan, http, slot * 1000 + placed)
        results.append(summary)
        placed += 1
        if summary["error"]:
            await asyncio.sleep(1.0)


async def loop_lag_probe(lags: list[float], period: float = 0.05) -> None:
    """How late this process's event loop wakes a sleeper: the load generator's own saturation signal."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(period)
        lags.append((time.monotonic() - before - period) * 1000)


def warm_caller_audio() -> None:
    """Synthesize the caller's phrases once, here (eSpeak is not thread-safe; the simulator caches the audio)."""
    for phrase in PHRASES:
        caller_audio(phrase)
    caller_audio(BACKCHANNEL.text, rate=BACKCHANNEL.rate or 1.0)


async def drive(plan: LoadPlan) -> dict:
    """Run this process's slots; returns the call summaries and the process's own CPU use."""
    warm_caller_audio()
    gc.collect()
    gc.freeze()
    gc.disable()  # a full collection over the calls' recorded frames would stall this loop for tens of ms
    results: list[dict] = []
    lags: list[float] = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    probe = asyncio.create_task(loop_lag_probe(lags))
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(run_slot(plan, slot, http, results) for slot in plan.slots))
    probe.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probe
    gc.enable()
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - began
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return {"calls": results, "cpu_s": cpu, "wall_s": wall, "loop_lag_ms": lags}


def run_plan(plan: LoadPlan) -> dict:
    """Entry point of a load process (or of the bench process itself)."""
    runner: Callable = asyncio.run
    if plan.use_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    return runner(drive(plan))


def run_load(plan: LoadPlan, processes: int) -> dict:
    """Drive all slots of ``plan`` from ``processes`` processes (1: in this process) and merge what they saw."""
    if processes <= 1:
        parts = [run_plan(plan)]
    else:
        plans = [
            LoadPlan(**{**asdict(plan), "slots": plan.slots[i::processes]})
            for i in range(processes)
            if plan.slots[i::processes]
        ]
        with multiprocessing.get_context("spawn").Pool(len(plans)) as pool:
            parts = pool.map(run_plan, plans)
    return {
        "calls": [call for part in parts for call in part["calls"]],
        "processes": len(parts),
        "cpu_pct": [round(100 * p["cpu_s"] / max(1e-9, p["wall_s"]), 1) for p in parts],
        "loop_lag_ms": [lag for part in parts for lag in part["loop_lag_ms"]],
    }
