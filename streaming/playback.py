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
    """One stretch of agent speech (a greeting, a reply, a goodbye) and the text behind its audio."""

    id: int
    purpose: str
    sequence: int
    segments: list[tuple[str, int, int]] = field(default_factory=list)  # (text, first byte, end byte)
    queued_bytes: int = 0
    sent_bytes: int = 0
    first_sent_at: float | None = None
    play_start: float | None = None
    play_end: float = 0.0
    finished: bool = False
    cancelled: bool = False
    planned: Callable[[], str] | None = None  # the whole text planned so far (an LLM reply may be ahead of audio)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # played (acknowledged) or cut
    all_sent: asyncio.Event = field(default_factory=asyncio.Event)  # finished and every frame sent, or cut
    framer: Framer = field(default_factory=Framer)

    @property
    def name(self) -> str:
        return f"utterance-{self.id}"

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
        self._queue: deque[tuple[Utterance, bytes | None]] = deque()  # None: the utterance's checkpoint
        self._wake = asyncio.Event()
        self._play_until = 0.0
        self._next_id = 0
        self.active: list[Utterance] = []
        self.frames_sent = 0
        self._clearing: set[asyncio.Future] = set()

    # -- queuing --
    def begin(self, purpose: str, sequence: int) -> Utterance:
        self._next_id += 1
        utterance = Utterance(self._next_id, purpose, sequence)
        self.active.append(utterance)
        return utterance

    def add_text(self, utterance: Utterance, text: str) -> None:
        """Declare that the audio added from now on speaks ``text``."""
        utterance.segments.append((text, utterance.queued_bytes, utterance.queued_bytes))

    def add_audio(self, utterance: Utterance, audio: bytes) -> None:
        if utterance.cancelled or not audio:
            return
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
        self._queue.append((utterance, None))  # the checkpoint goes out right after the last frame
        self._wake.set()

    def _enqueue(self, utterance: Utterance, frame: bytes) -> None:
        utterance.queued_bytes += len(frame)
        if utterance.segments:
            text, start, _ = utterance.segments[-1]
            utterance.segments[-1] = (text, start, utterance.queued_bytes)
        self._queue.append((utterance, frame))
        self._wake.set()

    # -- pacing --
    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._queue[0][1] is None:
                utterance, _ = self._queue.popleft()
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
            utterance, frame = self._queue.popleft()
            assert frame is not None  # a checkpoint at the head was sent above
            await self._send_frame(utterance, frame, now)

    async def _send_frame(self, utterance: Utterance, frame: bytes, now: float) -> None:
        if utterance.first_sent_at is None:
            utterance.first_sent_at, utterance.play_start = now, self._play_until
        if self._on_frame:
            self._on_frame(self._play_until, frame)
        self._play_until += FRAME_S
        utterance.sent_bytes += len(frame)
        utterance.play_end = self._play_until
        self.frames_sent += 1
        await self._send(plivo.play_audio(frame))

    # -- acknowledgements --
    def played(self, name: str) -> None:
        """Plivo's playedStream: everything up to that checkpoint was heard."""
        for utterance in self.active:
            if utterance.name == name:
                utterance.done.set()

    async def wait_played(self, utterance: Utterance, grace_s: float = 1.5) -> bool:
        """Wait (bounded) until the utterance has played; True if Plivo acknowledged it."""
        await utterance.all_sent.wait()
        budget = max(0.0, utterance.play_end - self._clock()) + grace_s
        try:
            await asyncio.wait_for(utterance.done.wait(), budget)
            return not utterance.cancelled
        except TimeoutError:
            return False
        finally:
            self._forget(utterance)

    def _forget(self, utterance: Utterance) -> None:
        if utterance in self.active:
            self.active.remove(utterance)

    # -- barge-in --
    def played_bytes(self, utterance: Utterance) -> int:
        """Bytes of the utterance that have reached the caller's ear by now."""
        unplayed = max(0.0, utterance.play_end - self._clock())
        return max(0, utterance.sent_bytes - round(unplayed * 1000 / FRAME_MS) * FRAME_BYTES)

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
        if clear and any(u.sent_bytes for u, _ in cut):
            clear_task = asyncio.ensure_future(self._send(plivo.clear_audio(self._stream_id)))
            self._clearing.add(clear_task)  # keep a reference until it is sent
            clear_task.add_done_callback(self._clearing.discard)
        self._play_until = now
        return cut
