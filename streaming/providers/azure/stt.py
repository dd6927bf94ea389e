"""Azure speech-to-text: continuous recognition of the caller's μ-law 8 kHz audio, no transcoding."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import azure.cognitiveservices.speech as speechsdk

from streaming.providers.azure.config import cancellation_error, speech_config
from streaming.providers.base import ProviderError, SpeechToText, Transcript
from streaming.providers.config import CallConfig

logger = logging.getLogger(__name__)

MIN_SEGMENTATION_MS, MAX_SEGMENTATION_MS = 100, 5000  # the range the service accepts


@dataclass(frozen=True)
class _Failure:
    error: ProviderError


_CLOSED = object()


class _Recognition:
    """One SpeechRecognizer on its own push stream. ``start`` and ``close`` block: run them in a thread."""

    def __init__(self, azure_settings: speechsdk.SpeechConfig, post: Callable[[_Recognition, object], None]) -> None:
        wave_format = speechsdk.audio.AudioStreamFormat(
            samples_per_second=8000,
            bits_per_sample=8,
            channels=1,
            wave_stream_format=speechsdk.AudioStreamWaveFormat.MULAW,
        )
        self.push = speechsdk.audio.PushAudioInputStream(stream_format=wave_format)
        self.recognizer = speechsdk.SpeechRecognizer(
            speech_config=azure_settings, audio_config=speechsdk.audio.AudioConfig(stream=self.push)
        )
        self.post = post
        self._closing = threading.Lock()
        self._closed = False
        self.signals = (self.recognizer.recognizing, self.recognizer.recognized, self.recognizer.canceled)
        self.recognizer.recognizing.connect(self._on_recognizing)
        self.recognizer.recognized.connect(self._on_recognized)
        self.recognizer.canceled.connect(self._on_canceled)

    # SDK callbacks: they run on an SDK thread and only hand over to the event loop.

    def _on_recognizing(self, event: speechsdk.SpeechRecognitionEventArgs) -> None:
        if event.result.text:
            self.post(self, Transcript(event.result.text, final=False))

    def _on_recognized(self, event: speechsdk.SpeechRecognitionEventArgs) -> None:
        result = event.result
        if result.reason == speechsdk.ResultReason.RecognizedSpeech and result.text.strip():
            self.post(self, Transcript(result.text, final=True))

    def _on_canceled(self, event: speechsdk.SpeechRecognitionCanceledEventArgs) -> None:
        details = event.cancellation_details
        if details.reason == speechsdk.CancellationReason.Error:
            self.post(self, _Failure(cancellation_error(details, AzureSTT.name)))

    def start(self) -> None:
        self.recognizer.start_continuous_recognition_async().get()

    def close(self) -> None:
        """Stop, close the stream and disconnect every signal (else the SDK may abort the process at exit)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
        try:
            self.recognizer.stop_continuous_recognition_async().get()
        except Exception:  # teardown must go on
            logger.warning("Azure STT: stopping recognition failed", exc_info=True)
        finally:
            self.push.close()
            for signal in self.signals:
                signal.disconnect_all()


class AzureSTT(SpeechToText):
    """Streams caller audio to Azure; yields partial and final transcripts.

    A cancellation with a transient error (the SDK has already retried internally) gets ``max_reconnects``
    fresh recognizers; the budget refills after a final transcript. Then ``results()`` raises ProviderError.
    """

    name = "azure_stt"
    max_reconnects = 1

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self.reconnects = 0
        self._reconnect_budget = self.max_reconnects
        self._azure_settings: speechsdk.SpeechConfig | None = None
        self._session: _Recognition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._closed = False

    async def start(self) -> None:
        """Build the config and start continuous recognition. Raises ProviderError."""
        self._loop = asyncio.get_running_loop()
        self._azure_settings = self._build_azure_settings()
        await self._open_session()

    def feed(self, ulaw: bytes) -> None:
        session = self._session
        if session is not None and not self._closed:
            session.push.write(ulaw)

    async def results(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                self._queue.put_nowait(_CLOSED)  # a later results() call ends at once too
                return
            if isinstance(item, _Failure):
                await self._recover(item.error)
                continue
            assert isinstance(item, Transcript)
            if item.final:
                self._reconnect_budget = self.max_reconnects
            yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        self._queue.put_nowait(_CLOSED)
        if session is not None:
            await asyncio.to_thread(session.close)

    # --- internals ---------------------------------------------------------------------------------

    def _build_azure_settings(self) -> speechsdk.SpeechConfig:
        azure_settings = speech_config(self.name)
        azure_settings.speech_recognition_language = self.config.language
        silence_ms = min(max(self.config.end_of_speech_ms, MIN_SEGMENTATION_MS), MAX_SEGMENTATION_MS)
        azure_settings.set_property(speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs, str(silence_ms))
        return azure_settings

    async def _open_session(self) -> None:
        """Create and start a recognizer; it becomes current before starting so no event is lost."""
        assert self._azure_settings is not None
        try:
            session = await asyncio.to_thread(_Recognition, self._azure_settings, self._post)
        except (RuntimeError, ValueError) as exc:
            raise ProviderError(f"cannot create recognizer: {exc}", provider=self.name, permanent=True) from exc
        if self._closed:
            await asyncio.to_thread(session.close)
            return
        self._session = session
        try:
            await asyncio.to_thread(session.start)
        except RuntimeError as exc:
            self._session = None
            await asyncio.to_thread(session.close)
            raise ProviderError(f"cannot start recognition: {exc}", provider=self.name) from exc

    async def _recover(self, error: ProviderError) -> None:
        """Replace a failed recognizer once, or raise ``error``."""
        if self._closed:
            return
        if error.permanent or self._reconnect_budget <= 0:
            raise error
        self._reconnect_budget -= 1
        self.reconnects += 1
        logger.warning("Azure STT failed (%s); reconnecting", error)
        failed = self._session
        try:
            await self._open_session()
        finally:
            if failed is not None:
                await asyncio.to_thread(failed.close)

    def _post(self, session: _Recognition, item: object) -> None:
        """Called on an SDK thread: hand the item to the event loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._deliver, session, item)

    def _deliver(self, session: _Recognition, item: object) -> None:
        if session is self._session and not self._closed:
            self._queue.put_nowait(item)
