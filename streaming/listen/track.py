"""One side of a listen-mode call: its audio → VAD and its own STT session → finished utterances with their real
stream times (``on_final(role, text, start_ms, end_ms)``).

``feed`` only queues (it runs for every 20 ms frame from the socket); ``read_audio`` and ``read_transcripts`` are
the call's tasks. Each side keeps its own audio clock: 20 ms per frame from the stream's start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from streaming.audio import FRAME_MS, SpeechDetector, VadSpeechEnd, VadSpeechStart
from streaming.inbound import Admit, InboundAudio
from streaming.providers.base import ProviderError, SpeechToText

MAX_STT_RESTARTS = 3


class Track:
    def __init__(
        self,
        role: str,
        stt: SpeechToText,
        end_of_speech_ms: int,
        *,
        opened_at: float,
        on_frame: Callable[[str, bytes, int, bool], None],
        on_partial: Callable[[str, str], None],
        on_final: Callable[[str, str, int, int], None],
        on_stt_failure: Callable[[ProviderError], None],
        restart_stt: Callable[[], Awaitable[SpeechToText]],
    ) -> None:
        self.role = role
        self.stt = stt
        self.inbound = InboundAudio(opened_at)
        self.stats, self.flood = self.inbound.stats, self.inbound.flood
        self._on_frame = on_frame
        self._on_partial = on_partial
        self._on_final = on_final
        self._on_stt_failure = on_stt_failure
        self._restart_stt = restart_stt
        self._detector = SpeechDetector(end_of_speech_ms=end_of_speech_ms)
        self.stream_ms = 0  # this side's audio so far
        self._segments: list[list[int | None]] = []  # VAD segments not yet claimed by a final: [onset, end|None]
        self._voice_end = 0  # just after this side's last voiced frame
        self._last_end = 0

    def feed(self, audio: bytes, timestamp_ms: int | None = None) -> Admit:
        return self.inbound.feed(audio, timestamp_ms)

    async def read_audio(self) -> None:
        async for frame in self.inbound.frames():
            self._process(frame)

    def _process(self, frame: bytes) -> None:
        at_ms = self.stream_ms
        self.stream_ms += FRAME_MS
        self.stt.feed(frame)
        vad = self._detector.process(frame, at_ms)
        voiced = self._detector.heard_voice
        if voiced:
            self._voice_end = at_ms + FRAME_MS
        self._on_frame(self.role, frame, at_ms, voiced)
        if isinstance(vad, VadSpeechStart):
            self._segments.append([vad.onset_ms, None])
        elif isinstance(vad, VadSpeechEnd) and self._segments and self._segments[-1][1] is None:
            if vad.end_ms <= (self._segments[-1][0] or 0):  # the rest of a segment a final claimed: no voice in it
                self._segments.pop()
            else:
                self._segments[-1][1] = vad.end_ms

    def utterance_span(self) -> tuple[int, int]:
        """(start, end) of the utterance a final transcript closes: from the onset of the first VAD segment not
        yet claimed to the end of the last closed one (or the last voice, when a segment is still open: the rest
        of that segment belongs to the next final)."""
        if not self._segments:  # words the VAD did not hear as speech
            start = max(self._last_end, self._voice_end - FRAME_MS)
            return start, max(start, self._voice_end)
        start = int(self._segments[0][0] or 0)
        last_end = self._segments[-1][1]
        if last_end is not None:
            end = int(last_end)
            self._segments.clear()
        else:
            end = max(start, self._voice_end)
            self._segments = [[self.stream_ms, None]]
        self._last_end = end
        return start, end

    async def read_transcripts(self) -> None:
        """STT results → partials and finished utterances; a failed STT is restarted (at most 3 times, never when
        the failure is permanent)."""
        restarts = 0
        while True:
            try:
                async for result in self.stt.results():
                    if not result.text.strip():
                        continue
                    if result.final:
                        self._detector.restart_count()
                        start, end = self.utterance_span()
                        self._on_final(self.role, result.text.strip(), start, end)
                    else:
                        self._on_partial(self.role, result.text)
                return
            except ProviderError as exc:
                self._on_stt_failure(exc)
                restarts += 1
                if exc.permanent or restarts > MAX_STT_RESTARTS:
                    return
                self.stt = await self._restart_stt()
