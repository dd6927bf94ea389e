"""A simulated listen-mode call: Plivo's one-way stream of both sides of a call a person answered.

Every 20 ms the pump sends one ``inbound`` frame (the caller) and one ``outbound`` frame (the person), silence
when that side is quiet, as Plivo does for ``audioTrack="both"``. The script is a timeline, not a conversation with
an agent: caller and person turns alternate (caller first), each ``listen_gap_ms`` after the previous one ended
(a negative gap: the next starts while the other still talks). Nothing is expected back on the socket; anything
that comes is counted (``frames_received``, ``unknown_events``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from streaming.simulator import wire
from streaming.simulator.audio_source import SILENT_FRAME_B64, AudioSourceError, CallerAudio, caller_audio
from streaming.simulator.client import FRAME_S, SimulatedCall
from streaming.simulator.config import CallerTurn
from streaming.simulator.plivo_http import BadInput

FRAME_MS = 20


class ListenCall(SimulatedCall):
    tracks = ("inbound", "outbound")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.person_turns = self.config.person_script()
        self.person_audio: list[CallerAudio] = []
        self.person_outgoing: deque[str] = deque()
        self.person_template = wire.media_template(self.stream_id, "outbound")

    async def _prepare_audio(self) -> list[CallerAudio | None]:
        cfg = self.config

        def sound(turn: CallerTurn) -> CallerAudio:
            return caller_audio(turn.text, turn.wav, language=cfg.language, rate=turn.rate or cfg.speaking_rate)

        def prepare() -> tuple[list[CallerAudio | None], list[CallerAudio]]:
            return [sound(t) for t in self.turns], [sound(t) for t in self.person_turns]

        try:
            callers, self.person_audio = await asyncio.to_thread(prepare)
        except AudioSourceError as exc:
            raise BadInput(str(exc)) from None
        return callers

    def timeline(self, audio: list[CallerAudio | None]) -> list[tuple[int, str, CallerTurn, CallerAudio]]:
        """(start ms after the stream's start, side, turn, audio) of every turn, in the order they start."""
        callers = [(t, a) for t, a in zip(self.turns, audio, strict=True) if a is not None]
        persons = list(zip(self.person_turns, self.person_audio, strict=True))
        order: list[tuple[str, CallerTurn, CallerAudio]] = []
        for index in range(max(len(callers), len(persons))):
            if index < len(callers):
                order.append(("caller", *callers[index]))
            if index < len(persons):
                order.append(("person", *persons[index]))
        at, planned = self.config.silence_ms, []
        for side, turn, sound in order:
            planned.append((at, side, turn, sound))
            at = max(at + FRAME_MS, at + sound.duration_ms + self.config.listen_gap_ms)
        return planned

    async def _script(self, audio: list[CallerAudio | None]) -> None:
        for at_ms, side, turn, sound in self.timeline(audio):
            await asyncio.sleep(max(0.0, self.t0 + at_ms / 1000 - time.monotonic()))
            if side == "caller":
                self.outgoing.extend((payload, None) for payload in sound.frames_b64)
            else:
                self.person_outgoing.extend(sound.frames_b64)
            self._emit(f"{side}-start", turn.label, side=side, start_ms=at_ms + sound.onset_frame * FRAME_MS)
        await self._wait(lambda: not self.outgoing and not self.person_outgoing, self.config.max_seconds)
        await asyncio.sleep((self.config.hang_up_after_ms or 0) / 1000)

    async def _pump(self) -> None:
        """One frame of each side every 20 ms for the whole call, silence when that side is quiet."""
        began, sent, send = self.t0, 0, self.ws.send
        while True:
            caller, _ = self.outgoing.popleft() if self.outgoing else (SILENT_FRAME_B64, None)
            person = self.person_outgoing.popleft() if self.person_outgoing else SILENT_FRAME_B64
            now_ms = int(time.time() * 1000)
            self.chunk += 1
            for template, payload in ((self.media_template, caller), (self.person_template, person)):
                self.sequence += 1
                await send(template % (self.sequence, now_ms, self.chunk, payload))
                self.result.frames_sent += 1
            if not self.outgoing and not self.person_outgoing:
                self.changed.set()
            sent += 1
            delay = began + sent * FRAME_S - time.monotonic()
            if delay < -0.2:
                began -= delay
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
