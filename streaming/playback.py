"""Outbound audio: 20 ms playAudio frames paced in real time, checkpoints, barge-in, and what was heard.

We keep at most ``lead_ms`` of audio queued at Plivo beyond real time, so that an interruption stops the agent
within that lead and we know, to the frame, which part of the planned text the caller heard.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streaming import plivo
from streaming.audio import FRAME_BYTES, FRAME_MS, Framer

FRAME_S = FRAME_MS / 1000


@dataclass(eq=False)
class Utterance:
    """One stretch of agent speech (a greeting, a reply, a goodbye) and the text behind its audio.

    Positions are byte offsets into ``audio``, every framed byte queued for the utterance so far. A pause moves
    ``sent_bytes`` back to what the caller heard and keeps the rest; a resume sends again from ``resume_from``.
    """

    id: int
    purpose: str
    sequence: int
    segments: list[tuple[str, int, int]] = field(default_factory=list)  # (text, first byte, end byte)
    word_marks: list[int] = field(default_factory=list)  # where words start, from the TTS's word timings
    audio: bytearray = field(default_factory=bytearray)
    pushed_bytes: int = 0  # audio handed to the framer (``audio`` plus what waits for a whole frame)
    sent_bytes: int = 0  # position just past the last frame sent
    first_sent_at: float | None = None
    play_start: float | None = None
    play_end: float = 0.0
    finished: bool = False
    cancelled: bool = False
    held: bool = False  # paused (or prepared and not released yet): audio is kept, not sent
    resume_from: int = 0
    pauses: int = 0  # pauses after audio had gone out (each renames the checkpoint)
    resumed: bool = False  # paused by the caller's voice and then resumed
    at_plivo: bool = False  # frames went out since the last clearAudio
    planned: Callable[[], str] | None = None  # the whole text planned so far (an LLM reply may be ahead of audio)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # played (acknowledged) or cut
    all_sent: asyncio.Event = field(default_factory=asyncio.Event)  # finished and every frame sent, or cut
    framer: Framer = field(default_factory=Framer)

    @property
    def name(self) -> str:
        return f"utterance-{self.id}" + (f"-{self.pauses}" if self.pauses else "")

    @property
    def queued_bytes(self) -> int:
        return len(self.audio)

    @property
    def text(self) -> str:
        spoken = " ".join(t for t, _, _ in self.segments)
        planned = " ".join(self.planned().split()) if self.planned else ""
        return planned if planned.startswith(spoken) else spoken

    def heard_text(self, played_bytes: int) -> str:
        """The prefix of ``text`` whose audio has played (whole words only)."""
        heard: list[str] = []
        for text, start, end in self.segments:
            if played_bytes >= end:
                heard.append(text)
                continue
            if played_bytes > start and end > start:
                spoken = text.split()
                n = len(spoken) * (played_bytes - start) // (end - start)
                if n:
                    heard.append(" ".join(spoken[:n]))
            break
        return " ".join(heard)

    def word_starts(self) -> list[int]:
        """Where each word's audio starts: the TTS's word timings where it gave them, else estimated from the
        characters of each segment spread over its audio."""
        starts = list(self.word_marks)
        for text, start, end in self.segments:
            if any(start <= mark < max(end, start + 1) for mark in self.word_marks):
                continue
            offset = 0
            for word in text.split():
                at = text.index(word, offset)
                starts.append(start + (end - start) * at // max(1, len(text)))
                offset = at + len(word)
        return sorted(starts)

    def resume_position(self, played_bytes: int) -> int:
        """The frame where the first word the caller did not hear (fully) starts."""
        if self.finished and played_bytes >= self.queued_bytes:
            return self.queued_bytes
        started = [p for p in self.word_starts() if p <= played_bytes]
        position = started[-1] if started else 0
        return position - position % FRAME_BYTES


class Player:
    """Sends one call's agent audio. ``run()`` is the pacing task; everything else is called from the runner."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        stream_id: str,
        *,
        lead_ms: int = 100,
        clock: Callable[[], float] = time.monotonic,
        on_frame: Callable[[float, bytes], None] | None = None,
    ) -> None:
        self._send = send
        self._stream_id = stream_id
        self._lead = lead_ms / 1000
        self._clock = clock
        self._on_frame = on_frame
        # (utterance, position, frame); a None frame is the utterance's checkpoint
        self._queue: deque[tuple[Utterance, int, bytes | None]] = deque()
        self._wake = asyncio.Event()
        self._play_until = 0.0
        self._next_id = 0
        self.active: list[Utterance] = []
        self.frames_sent = 0
        self._clearing: set[asyncio.Future] = set()

    # -- queuing --
    def begin(self, purpose: str, sequence: int, *, held: bool = False) -> Utterance:
        """A new utterance; ``held`` keeps its audio until ``resume`` releases it (a prepared reply)."""
        self._next_id += 1
        utterance = Utterance(self._next_id, purpose, sequence, held=held)
        self.active.append(utterance)
        return utterance

    def add_text(self, utterance: Utterance, text: str) -> int:
        """Declare that the audio added from now on speaks ``text``; returns the position where it starts."""
        utterance.segments.append((text, utterance.pushed_bytes, utterance.pushed_bytes))
        return utterance.pushed_bytes

    def add_word(self, utterance: Utterance, position: int) -> None:
        """A word starts at ``position`` (from the TTS's word timings)."""
        utterance.word_marks.append(position)

    def add_audio(self, utterance: Utterance, audio: bytes) -> None:
        if utterance.cancelled or not audio:
            return
        utterance.pushed_bytes += len(audio)
        for frame in utterance.framer.push(audio):
            self._enqueue(utterance, frame)

    def finish(self, utterance: Utterance) -> None:
        """No more audio for this utterance: flush, and the checkpoint follows its last frame."""
        if utterance.cancelled or utterance.finished:
            return
        if (tail := utterance.framer.flush()) is not None:
            self._enqueue(utterance, tail)
        utterance.finished = True
        if utterance.queued_bytes == 0:
            utterance.all_sent.set()
            utterance.done.set()
            return
        if not utterance.held:
            self._queue.append((utterance, utterance.queued_bytes, None))  # right after the last frame
            self._wake.set()

    def _enqueue(self, utterance: Utterance, frame: bytes) -> None:
        position = utterance.queued_bytes
        utterance.audio += frame
        if utterance.segments:
            text, start, _ = utterance.segments[-1]
            utterance.segments[-1] = (text, start, utterance.queued_bytes)
        if not utterance.held:
            self._queue.append((utterance, position, frame))
            self._wake.set()

    # -- pacing --
    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            utterance, position, frame = self._queue[0]
            if frame is None:
                self._queue.popleft()
                utterance.all_sent.set()
                await self._send(plivo.checkpoint(self._stream_id, utterance.name))
                continue
            now = self._clock()
            if self._play_until < now:
                self._play_until = now
            ahead = self._play_until - now
            if ahead > self._lead:
                await asyncio.sleep(ahead - self._lead)
                continue
            self._queue.popleft()
            await self._send_frame(utterance, position, frame, now)

    async def _send_frame(self, utterance: Utterance, position: int, frame: bytes, now: float) -> None:
        if utterance.first_sent_at is None:
            utterance.first_sent_at, utterance.play_start = now, self._play_until
        if self._on_frame:
            self._on_frame(self._play_until, frame)
        self._play_until += FRAME_S
        utterance.sent_bytes = position + len(frame)
        utterance.play_end = self._play_until
        self.frames_sent += 1
        utterance.at_plivo = True
        await self._send(plivo.play_audio(frame))

    # -- acknowledgements --
    def played(self, name: str) -> None:
        """Plivo's playedStream: everything up to that checkpoint was heard."""
        for utterance in self.active:
            if utterance.name == name and not utterance.held:
                utterance.at_plivo = False
                utterance.done.set()

    async def wait_played(self, utterance: Utterance, grace_s: float = 1.5) -> bool:
        """Wait (bounded, from the last frame sent) until the utterance has played; True if Plivo acknowledged it.
        A pause in between starts the wait again once the utterance is resumed and sent."""
        try:
            while True:
                pauses = utterance.pauses
                await utterance.all_sent.wait()
                budget = max(0.0, utterance.play_end - self._clock()) + grace_s
                try:
                    await asyncio.wait_for(utterance.done.wait(), budget)
                    return not utterance.cancelled
                except TimeoutError:
                    if utterance.pauses == pauses and not utterance.held:
                        return False
        finally:
            self._forget(utterance)

    def _forget(self, utterance: Utterance) -> None:
        if utterance in self.active:
            self.active.remove(utterance)

    # -- the caller's voice over the agent --
    def played_bytes(self, utterance: Utterance) -> int:
        """Bytes of the utterance that have reached the caller's ear by now."""
        unplayed = max(0.0, utterance.play_end - self._clock())
        return max(0, utterance.sent_bytes - round(unplayed * 1000 / FRAME_MS) * FRAME_BYTES)

    def pause(self) -> list[Utterance]:
        """Stop sending and clear Plivo's buffer, keeping every utterance's unplayed rest for ``resume``."""
        now = self._clock()
        paused = [u for u in self.active if not u.cancelled and not u.held]
        for utterance in paused:
            heard = self.played_bytes(utterance)
            if utterance.sent_bytes:
                utterance.pauses += 1
            utterance.held, utterance.sent_bytes = True, heard
            utterance.resume_from = utterance.resume_position(heard)
            utterance.play_end = min(utterance.play_end, now)
            utterance.all_sent.clear()
        self._queue = deque(entry for entry in self._queue if not entry[0].held)
        self._clear_plivo()
        self._play_until = now
        return paused

    def resume(self, utterances: list[Utterance] | None = None) -> list[Utterance]:
        """Send the held utterances (all, or ``utterances``) again from where each resumes."""
        chosen = [u for u in (self.active if utterances is None else utterances) if u.held and not u.cancelled]
        for utterance in chosen:
            utterance.held = False
            start = min(utterance.resume_from, utterance.queued_bytes)
            utterance.sent_bytes = start
            for position in range(start, utterance.queued_bytes, FRAME_BYTES):
                frame = bytes(utterance.audio[position : position + FRAME_BYTES])
                self._queue.append((utterance, position, frame))
            if utterance.finished:
                self._queue.append((utterance, utterance.queued_bytes, None))
        if chosen:
            self._wake.set()
        return chosen

    def discard(self, utterance: Utterance) -> None:
        """Drop an utterance nobody heard (a prepared reply that was not released): no clearAudio, no record."""
        utterance.cancelled = True
        utterance.done.set()
        utterance.all_sent.set()
        self._queue = deque(entry for entry in self._queue if entry[0] is not utterance)
        self._forget(utterance)

    def interrupt(self, clear: bool = True) -> list[tuple[Utterance, str]]:
        """Drop queued audio, clear Plivo's buffer (with ``clear``; not once the stream is gone), and return each
        cut utterance with its heard text."""
        self._queue.clear()
        now = self._clock()
        cut = [(u, u.heard_text(self.played_bytes(u))) for u in self.active if not u.cancelled]
        for utterance, _ in cut:
            utterance.cancelled = True
            utterance.play_end = min(utterance.play_end, now)
            utterance.done.set()
            utterance.all_sent.set()
        if clear:
            self._clear_plivo()
        self._play_until = now
        return cut

    def _clear_plivo(self) -> None:
        """clearAudio, when frames of an utterance still playing went out since the last one."""
        if not any(u.at_plivo for u in self.active):
            return
        for utterance in self.active:
            utterance.at_plivo = False
        clear_task = asyncio.ensure_future(self._send(plivo.clear_audio(self._stream_id)))
        self._clearing.add(clear_task)  # keep a reference until it is sent
        clear_task.add_done_callback(self._clearing.discard)
