"""The caller's side of a live call: audio in → recorder, STT and VAD; transcripts and voice → turn-taking events.

``feed`` only queues (it is called for every 20 ms frame from the socket); ``read_audio`` and ``read_transcripts``
are the call's tasks that do the work.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from streaming import turns
from streaming.audio import SpeechDetector, VadQuiet, VadSpeechEnd, VadSpeechStart, VadVoiced
from streaming.inbound import Admit, InboundAudio
from streaming.providers.base import ProviderError, SpeechToText
from streaming.recording import CallRecorder

MAX_STT_RESTARTS = 3


class Listener:
    def __init__(
        self,
        stt: SpeechToText,
        end_of_speech_ms: int,
        dispatch: Callable[[turns.Event], None],
        *,
        recorder: CallRecorder | None = None,
        on_partial: Callable[[str], None],
        on_stt_failure: Callable[[ProviderError], None],
        restart_stt: Callable[[], Awaitable[SpeechToText]],
        opened_at: float,
    ) -> None:
        self.stt = stt
        self.inbound = InboundAudio(opened_at)
        self.stats, self.flood = self.inbound.stats, self.inbound.flood
        self._dispatch = dispatch
        self._recorder = recorder
        self._on_partial = on_partial
        self._on_stt_failure = on_stt_failure
        self._restart_stt = restart_stt
        self._detector = SpeechDetector(end_of_speech_ms=end_of_speech_ms)
        # stream time (ms of caller audio) and monotonic marks of the caller's current or last utterance
        self.caller_ms = 0
        self.speech_onset_ms = 0
        self.speech_end_ms = 0
        self.last_voice_at: float | None = None
        self.speech_started_at: float | None = None
        self.final_at: float | None = None

    def feed(self, audio: bytes, timestamp_ms: int | None = None) -> Admit:
        """A media frame from the socket. Only queues, unless it is too far ahead of real time (see FloodGuard)."""
        return self.inbound.feed(audio, timestamp_ms)

    async def read_audio(self) -> None:
        async for frame in self.inbound.frames():
            self._process_frame(frame)

    def _process_frame(self, frame: bytes) -> None:
        at_ms = self.caller_ms
        self.caller_ms += 20
        self.stt.feed(frame)
        if self._recorder:
            self._recorder.caller_frame(frame)
        vad = self._detector.process(frame, at_ms)
        if isinstance(vad, VadSpeechStart):
            self.speech_onset_ms = vad.onset_ms
            self.speech_started_at = time.monotonic() - (at_ms - vad.onset_ms) / 1000
            self.last_voice_at = time.monotonic()
            self._dispatch(turns.VoiceActivity(vad.voiced_ms))
        elif isinstance(vad, VadVoiced):
            if self._detector.heard_voice:
                self.last_voice_at = time.monotonic()
            self._dispatch(turns.VoiceActivity(vad.voiced_ms))
        elif isinstance(vad, VadQuiet):
            self._dispatch(turns.CallerQuiet())
        elif isinstance(vad, VadSpeechEnd):
            self.speech_end_ms = vad.end_ms
            self._dispatch(turns.SpeechEnded())

    async def read_transcripts(self) -> None:
        """STT results → Partial/Final events; a failed STT is restarted (at most 3 times, never when permanent)."""
        restarts = 0
        while True:
            try:
                async for result in self.stt.results():
                    if result.final:
                        self._detector.restart_count()
                        self._dispatch(turns.Final(result.text))
                    else:
                        self._on_partial(result.text)
                        self._dispatch(turns.Partial(result.text))
                return
            except ProviderError as exc:
                self._on_stt_failure(exc)
                restarts += 1
                if exc.permanent or restarts > MAX_STT_RESTARTS:
                    return
                self.stt = await self._restart_stt()

    def caller_turn_end_ms(self) -> int:
        """Stream time at which the caller's last utterance ended (now, if the VAD has not closed it yet)."""
        return self.speech_end_ms if self.speech_end_ms > self.speech_onset_ms else self.caller_ms
