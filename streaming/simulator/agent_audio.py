"""What the simulated caller hears of the agent, and when: Plivo's playout, the agent's speech segments, and the
timing of answers (voice-to-voice), barge-ins (clearAudio) and backchannels (clearAudio, then resumed audio).

Fed by the call's socket reader (``audio``, ``checkpoint``, ``clear``) and media pump (``idle``, the caller's speech
marks); read by its script (``mark``, ``agent_done``). No I/O, no tasks: every method takes the time it happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from streaming.simulator.playout import Playout
from streaming.simulator.report import AnswerLatency, BackchannelLatency, CallResult

AGENT_IDLE_S = 0.25  # playout empty this long ends an agent speech segment
NO_CHECKPOINT_IDLE_S = 3.0  # without checkpoints, the agent counts as done after this much silence
HOLE_MS = (40, 100)  # holes inside an utterance longer than these are counted


class AgentAudio:
    """One call's agent-audio bookkeeping. ``emit(kind, text, *, at=None, **data)`` adds a transcript entry."""

    def __init__(self, result: CallResult, emit: Callable[..., None], ring_at: float) -> None:
        self.result, self.emit, self.ring_at = result, emit, ring_at
        self.playout = Playout()
        self.started = ring_at  # when ``start`` was sent: the greeting's origin
        self.since: float | None = None  # start (play time) of the current agent speech segment
        self.mark = 0.0  # the script waits for agent audio received after this moment
        self.first_audio_after_mark: float | None = None
        self.watch_from: float | None = None  # …and, after a backchannel, for any agent frame after this one
        self.audio_after_watch: float | None = None
        self.last_audio_at: float | None = None
        self.last_checkpoint_at = 0.0
        self.pending_answer: AnswerLatency | None = None  # its voice-to-voice awaits the next agent speech
        self.barging: AnswerLatency | None = None  # its reaction awaits clearAudio
        self.backchannel: BackchannelLatency | None = None  # awaits clearAudio, then resumed audio (until next turn)
        self.clears: list[float] = []

    def at(self, now: float) -> float:
        """``now`` (monotonic) in seconds since the call rang, as the results give times."""
        return round(now - self.ring_at, 3)

    def set_mark(self, now: float) -> None:
        self.mark, self.first_audio_after_mark = now, None

    def watch(self, now: float) -> None:
        self.watch_from, self.audio_after_watch = now, None

    # ---- from the pump: the caller's speech ----
    def caller_started(self, said: AnswerLatency | BackchannelLatency, barge: bool, now: float) -> None:
        """Speech onset. A turn closes the last backchannel's resume window; a barge-in awaits clearAudio."""
        said.speech_start_s = self.at(now)
        self.barging = said if barge and isinstance(said, AnswerLatency) else None
        self.backchannel = said if isinstance(said, BackchannelLatency) else None

    def caller_stopped(self, said: AnswerLatency | BackchannelLatency, now: float) -> None:
        """End of speech: a turn awaits its answer (voice-to-voice); a backchannel, its resumed audio."""
        said.speech_end_s = self.at(now)
        if isinstance(said, BackchannelLatency):
            said.settle()
            self.watch(now)
        else:
            self.set_mark(now)
            self.pending_answer = said

    # ---- from the socket ----
    def audio(self, payload: bytes, now: float) -> None:
        result = self.result
        starts = self.playout.audio(payload)
        result.frames_received += 1
        result.agent_audio_ms += len(payload) / 8
        self.last_audio_at = now
        if result.greeting_ms is None:
            result.greeting_ms = round((now - self.started) * 1000, 1)
        if self.watch_from is not None and self.audio_after_watch is None and now >= self.watch_from:
            self.audio_after_watch = now
        resumed: dict = {}
        if (back := self.backchannel) is not None and back.clear_ms is not None and back.resumed_s is None:
            back.resumed_s = self.at(now)
            back.settle()
            resumed = {"resumed": True} | ({"resume_ms": back.resume_ms} if back.resume_ms is not None else {})
        if self.since is not None:
            return  # more of the speech already playing (e.g. the reply being interrupted): not an answer
        self.since = starts
        self.emit("agent-start", "", at=starts, **resumed)
        if now >= self.mark and self.first_audio_after_mark is None:
            self.first_audio_after_mark = now
        if (answer := self.pending_answer) is not None and answer.speech_end_s is not None:
            answer.voice_to_voice_ms = round((now - self.ring_at - answer.speech_end_s) * 1000, 1)
            self.pending_answer = None

    def checkpoint(self, name: str, now: float) -> None:
        self.playout.checkpoint(name)
        self.last_checkpoint_at = now
        self.result.checkpoints_received += 1

    def clear(self, now: float) -> None:
        self.playout.clear()
        self.clears.append(now)
        self.result.clear_audio_received += 1
        reaction = None
        if (answer := self.barging) is not None and answer.speech_start_s is not None:
            reaction = answer.barge_in_reaction_ms = round((now - self.ring_at - answer.speech_start_s) * 1000, 1)
            self.barging = None
        elif (back := self.backchannel) is not None and back.speech_start_s is not None and back.clear_ms is None:
            reaction = back.clear_ms = round((now - self.ring_at - back.speech_start_s) * 1000, 1)
        self.emit("clear", "", reaction_ms=reaction)
        if self.since is not None:
            self.end_segment(now, cleared=True)

    # ---- from the pump (idle) and the script ----
    def idle(self, now: float) -> bool:
        """End the agent's speech segment once its playout has been empty for AGENT_IDLE_S (True if it did)."""
        if self.since is None or now - self.playout.play_until < AGENT_IDLE_S:
            return False
        self.end_segment(self.playout.play_until, cleared=False)
        return True

    def end_segment(self, at: float, cleared: bool) -> None:
        if self.since is None:
            return
        ms = round(max(0.0, at - self.since) * 1000)
        self.since = None
        self.emit("agent-stop", "", at=at, ms=ms, cleared=cleared)

    def agent_done(self) -> bool:
        """The agent has finished speaking: playout empty and its checkpoint acknowledged (or long silence)."""
        if self.playout.is_playing() or self.playout.checkpoints:
            return False
        if self.last_checkpoint_at >= (self.last_audio_at or 0):
            return True
        return time.monotonic() - self.playout.play_until >= NO_CHECKPOINT_IDLE_S

    def finish(self, end: float) -> None:
        """The call is over: close the last segment and count underruns and holes."""
        result, playout = self.result, self.playout
        self.end_segment(min(playout.play_until, end), cleared=False)
        result.underruns = len(playout.underruns)
        result.underrun_ms = round(sum(playout.underruns), 1)
        result.holes_over_40ms, result.holes_over_100ms = (sum(h > ms for h in playout.holes) for ms in HOLE_MS)
        result.longest_hole_ms = round(max(playout.holes, default=0.0), 1)
