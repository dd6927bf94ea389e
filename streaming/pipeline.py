"""The call runner: the one asyncio orchestrator of a live call.

Audio in → VAD + STT → session events → actions → LLM/TTS → paced audio out. Database writes and live-page
events run in side tasks, never on the audio path. Every await on a provider is bounded or cancellable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from calls import live, records
from streaming import session as s
from streaming.audio import FRAME_BYTES, Framer, SpeechDetector, SpeechEnded, SpeechStarted, VoiceActivity
from streaming.inbound import InboundStats
from streaming.playback import Player, Utterance
from streaming.providers.base import AgentSpec, Conversation, Message, ProviderError
from streaming.recording import CallRecorder
from streaming.reply import ReplyOutcome, TurnTiming, speech_cache, stream_sentences
from streaming.runner_actions import ActionsMixin

log = logging.getLogger(__name__)
ProviderFactory = Callable[[AgentSpec], tuple]


class CallRunner(ActionsMixin):
    def __init__(
        self,
        call: records.LiveCall,
        stream_id: str,
        send: Callable[[str], Awaitable[None]],
        close_socket: Callable[[], Awaitable[None]],
        factory: ProviderFactory,
        *,
        site_url: str = "",
        greet: bool = True,
    ) -> None:
        self.call = call
        self.stream_id = stream_id
        self.spec = AgentSpec.from_snapshot(call.snapshot)
        self.session = s.Session(s.SessionConfig.from_snapshot(call.snapshot))
        self.stt, self.llm, self.tts = factory(self.spec)
        self._factory = factory
        self._close_socket = close_socket
        self.site_url = site_url
        self.greet = greet
        self.started_at = time.monotonic()
        self.recorder: CallRecorder | None = None
        if call.snapshot.get("record_calls"):
            relative = f"{timezone.now():%Y/%m/%d}/{call.call_uuid}.wav"
            self.recorder = CallRecorder(Path(settings.RECORDINGS_DIR) / relative, self.started_at)
            self.recording_path = relative
        self.player = Player(send, stream_id, on_frame=self.recorder.agent_frame if self.recorder else None)
        self.detector = SpeechDetector(end_of_speech_ms=self.spec.end_of_speech_ms)
        self.framer = Framer()
        self.stats = InboundStats()
        self.history: list[Message] = [Message(role, text) for role, text in call.history]
        self.sequence = call.next_sequence
        self.inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.tasks: set[asyncio.Task] = set()
        self.side_tasks: set[asyncio.Task] = set()
        self.speaking: dict[Utterance, asyncio.Task] = {}
        self.silence_timer: asyncio.Task | None = None
        self.caller_ms = 0
        self.speech_onset_ms = 0
        self.speech_end_ms = 0
        self.last_voice_at: float | None = None
        self.speech_started_at: float | None = None
        self.final_at: float | None = None
        self.stopped = False
        self.errors = 0

    # ---- lifecycle ----
    async def start(self) -> None:
        for task in (self.player.run(), self._read_audio(), self._read_transcripts(), self._end_after_max()):
            self._task(task, self.tasks)
        self._task(self._start_providers(), self.tasks)
        if self.greet:
            self.dispatch(s.CallStarted())
        else:
            self.dispatch_all([s.StartSilenceTimer(self.session.config.silence_timeout_s)])

    async def _start_providers(self) -> None:
        for provider in (self.stt, self.tts):
            try:
                await provider.start()
            except ProviderError as exc:
                self.provider_failed(exc)
        self._warm_fixed_lines()

    def feed(self, audio: bytes, timestamp_ms: int | None = None) -> None:
        """Called by the consumer for every media frame. Only queues."""
        self.stats.received(timestamp_ms)
        self.inbound.put_nowait(audio)

    def dtmf(self, digit: str) -> None:
        self.side(records.add_event(self.call.id, "dtmf", {"digit": digit}))
        self.side(live.publish(self.call.call_uuid, "dtmf", {"digit": digit}))
        self.dispatch(s.Dtmf(digit))

    def operator_hangup(self) -> None:
        self.dispatch(s.OperatorHangup())

    async def stop(self) -> None:
        """The stream is over: cancel everything, close providers, finish the records. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        self.session.handle(s.StreamClosed())
        current = asyncio.current_task()
        pending = [t for t in [*self.tasks, *self.speaking.values()] if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for provider in (self.stt, self.llm, self.tts):
            try:
                await asyncio.wait_for(provider.close(), 10)
            except Exception:
                log.warning("Closing %s failed", type(provider).__name__, exc_info=True)
        if self.recorder:
            await asyncio.to_thread(self.recorder.close)
        if self.side_tasks:
            await asyncio.wait(self.side_tasks, timeout=10)
        recording = self.recording_path if self.recorder else ""
        await records.end_stream(self.call.id, self.stream_id, recording, self.stats.summary(self.player.frames_sent))
        await live.publish(self.call.call_uuid, "ended", {})

    def _task(self, coro: Coroutine, group: set[asyncio.Task]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        group.add(task)
        task.add_done_callback(group.discard)
        return task

    async def _guard(self, coro: Coroutine) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            self.errors += 1
            log.exception("Call %s: a task failed", self.call.call_uuid)

    def side(self, coro: Coroutine) -> None:
        """Run a record or live-page write without waiting for it."""
        self._task(coro, self.side_tasks)

    # ---- audio in ----
    async def _read_audio(self) -> None:
        while (chunk := await self.inbound.get()) is not None:
            self.stats.processed()
            for frame in self.framer.push(chunk) if len(chunk) != FRAME_BYTES else (chunk,):
                self._process_frame(frame)

    def _process_frame(self, frame: bytes) -> None:
        at_ms = self.caller_ms
        self.caller_ms += 20
        self.stt.feed(frame)
        if self.recorder:
            self.recorder.caller_frame(frame)
        vad = self.detector.process(frame, at_ms)
        if vad is None:
            return
        if isinstance(vad, SpeechStarted):
            self.speech_onset_ms = vad.onset_ms
            self.speech_started_at = time.monotonic() - (at_ms - vad.onset_ms) / 1000
            self.last_voice_at = time.monotonic()
            self.dispatch(s.VoiceActivity(vad.voiced_ms))
        elif isinstance(vad, VoiceActivity):
            if self.detector.heard_voice:
                self.last_voice_at = time.monotonic()
            self.dispatch(s.VoiceActivity(vad.voiced_ms))
        elif isinstance(vad, SpeechEnded):
            self.speech_end_ms = vad.end_ms
            self.dispatch(s.SpeechEnded())

    async def _read_transcripts(self) -> None:
        restarts = 0
        while True:
            try:
                async for result in self.stt.results():
                    if result.final:
                        self.detector.restart_count()
                        self.dispatch(s.Final(result.text))
                    else:
                        self.side(live.publish(self.call.call_uuid, "partial", {"text": result.text}))
                        self.dispatch(s.Partial(result.text))
                return
            except ProviderError as exc:
                self.provider_failed(exc)
                restarts += 1
                if exc.permanent or restarts > 3:
                    return
                self.stt = await self._restart_stt()

    async def _restart_stt(self):
        stt, llm, tts = self._factory(self.spec)
        for extra in (llm, tts):
            await extra.close()
        await stt.start()
        return stt

    def provider_failed(self, exc: ProviderError, fallback: bool = True) -> None:
        """Store the error; with ``fallback`` the caller hears the fallback line."""
        log.warning("Call %s: provider %s failed: %s", self.call.call_uuid, exc.provider, exc)
        self.side(
            records.add_event(
                self.call.id, "error", {"provider": exc.provider, "message": str(exc), "permanent": exc.permanent}
            )
        )
        if fallback:
            self.dispatch(s.ReplyFailed(str(exc)))

    # ---- conversation ----
    def conversation(self) -> Conversation:
        return Conversation(
            self.spec, list(self.history), self.call.caller_number, timezone.localtime(), self.call.previous_summary
        )

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def stream_ms(self, at: float | None) -> int | None:
        return None if at is None else max(0, round((at - self.started_at) * 1000))

    def fixed_line_key(self, text: str) -> tuple:
        spec = self.spec
        return speech_cache.key(self.tts, spec.voice, spec.language, spec.speaking_rate, spec.version, text)

    def _warm_fixed_lines(self) -> None:
        config = self.session.config
        for text in (config.fallback, config.goodbye):
            if text and speech_cache.get(self.fixed_line_key(text)) is None:
                self.side(self._synthesize_to_cache(text))

    async def _synthesize_to_cache(self, text: str) -> None:
        audio = b"".join([chunk async for chunk in self.tts.speak(text)])
        speech_cache.put(self.fixed_line_key(text), audio)

    async def produce_reply(self, utterance: Utterance, timing: TurnTiming, outcome: ReplyOutcome) -> None:
        async for sentence in stream_sentences(self.llm, self.conversation(), timing, outcome):
            await self.speak_text(utterance, sentence, timing)

    async def speak_text(self, utterance: Utterance, text: str, timing: TurnTiming | None = None) -> bytes:
        """Synthesize ``text`` into the utterance as the audio streams in; returns all of it."""
        self.player.add_text(utterance, text)
        audio: list[bytes] = []
        async for chunk in self.tts.speak(text):
            audio.append(chunk)
            if timing and timing.tts_first_audio is None:
                timing.tts_first_audio = time.monotonic()
            first = utterance.queued_bytes == 0
            self.player.add_audio(utterance, chunk)
            if first:
                self.dispatch(s.ReplyAudioStarted())
        return b"".join(audio)
