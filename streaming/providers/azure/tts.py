"""Azure text-to-speech: SSML in, headerless μ-law 8 kHz chunks out, streamed as the service sends them,
with the service's word boundaries as ``WordMark``s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import azure.cognitiveservices.speech as speechsdk

from streaming.providers.azure.config import cancellation_error, speech_config
from streaming.providers.base import ProviderError, TextToSpeech, WordMark
from streaming.providers.config import CallConfig

logger = logging.getLogger(__name__)

MIN_RATE, MAX_RATE = 0.5, 2.0  # the prosody rates the service accepts
TICKS_PER_MS = 10_000  # the SDK's audio offsets are in 100 ns ticks
BYTES_PER_MS = 8  # μ-law 8 kHz


@dataclass(frozen=True)
class _Failure:
    error: ProviderError


_DONE = object()


def _is_terminal(item: object) -> bool:
    return item is _DONE or isinstance(item, _Failure)


class _WordOrder:
    """Puts each word mark before the audio chunk holding the word's start.

    The SDK fires word boundaries on a thread of their own, not the one that fires audio, so a mark can reach
    the loop just after audio that the service sent after it. So, with a listener, each chunk waits until a mark
    at or past its end has been delivered (the service sends a word's mark before the audio holding its start:
    every mark inside the chunk is then in), the synthesis has ended (the SDK fires every mark before that), or
    ``wait`` seconds have passed since the chunk arrived. A mark later than that is still delivered, at once.
    """

    def __init__(self, on_word: Callable[[WordMark], None] | None, wait: float) -> None:
        self.on_word = on_word
        self.wait = wait if on_word is not None else 0.0
        self.received = 0  # bytes of audio received so far
        self.marked_ms = -1.0  # offset of the latest mark delivered
        self.held: deque[tuple[float, int, bytes]] = deque()  # (release time, end in bytes, chunk)

    def mark(self, mark: WordMark) -> None:
        if self.on_word is not None:
            self.marked_ms = max(self.marked_ms, mark.offset_ms)
            self.on_word(mark)

    def add(self, chunk: bytes, now: float) -> None:
        self.received += len(chunk)
        self.held.append((now + self.wait, self.received, chunk))

    def ready(self, now: float, ended: bool = False) -> list[bytes]:
        """The chunks that may be yielded now, in order."""
        ready = []
        while self.held:
            due, end, _ = self.held[0]
            if not (ended or due <= now or self.marked_ms * BYTES_PER_MS >= end):
                break
            ready.append(self.held.popleft()[2])
        return ready

    def next_due(self) -> float | None:
        return self.held[0][0] if self.held else None


def build_ssml(text: str, voice: str, language: str, rate: float = 1.0) -> str:
    """SSML for one utterance: the voice, the language, escaped text, a prosody rate when not 1.0."""
    body = escape(text)
    if abs(rate - 1.0) > 1e-3:
        percent = round((min(max(rate, MIN_RATE), MAX_RATE) - 1.0) * 100)
        body = f'<prosody rate="{percent:+d}%">{body}</prosody>'
    return (
        f'<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang={quoteattr(language)}>'
        f"<voice name={quoteattr(voice)}>{body}</voice></speak>"
    )


class AzureTTS(TextToSpeech):
    """One pre-connected synthesizer per call; ``speak`` calls run one at a time.

    Audio comes from the ``synthesizing`` events as they arrive. Closing the iterator early (barge-in) stops
    the synthesis off the loop and pre-connects again for the next sentence.

    Word marks come from ``synthesis_word_boundary`` (connecting it is what makes the SDK ask the service for
    word boundaries; punctuation boundaries are dropped). Marks and audio reach the loop through one queue;
    with ``on_word`` each chunk may wait up to ``word_wait`` for its marks (see ``_WordOrder``): past that a
    mark can come just after the chunk holding its start. Without ``on_word`` audio is never held.
    """

    name = "azure_tts"
    stall_timeout = 5.0  # seconds without any audio or result before giving up
    cancel_wait = 1.0  # seconds to wait for the SDK to confirm a stop
    connect_wait = 1.0  # seconds a request waits for a pre-connection in progress (else the SDK opens another)
    # Seconds a chunk may wait for word marks fired late on the SDK's other thread. 0: never hold audio (the
    # engine places a mark by its offset, so a mark that comes just after its chunk costs nothing there).
    word_wait = 0.0

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self._synthesizer: speechsdk.SpeechSynthesizer | None = None
        self._connection: speechsdk.Connection | None = None
        self._signals: tuple[speechsdk.EventSignal, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._active: asyncio.Queue[object] | None = None
        self._link_ready = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        """Create the synthesizer and open its connection. Raises ProviderError."""
        async with self._lock:
            await self._ensure_started()

    async def speak(self, text: str, on_word: Callable[[WordMark], None] | None = None) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        ssml = build_ssml(text, self.config.voice, self.config.language, self.config.speaking_rate)
        async with self._lock:
            await self._ensure_started()
            if self._closed or self._synthesizer is None:
                return
            await self._await_preconnection()
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[object] = asyncio.Queue()
            self._active = queue
            order = _WordOrder(on_word, self.word_wait)
            finished = False
            try:
                self._synthesizer.speak_ssml_async(ssml)  # returns at once; results come as events
                stall_at = loop.time() + self.stall_timeout
                while True:
                    for chunk in order.ready(loop.time()):
                        yield chunk
                    due = order.next_due()
                    try:
                        async with asyncio.timeout_at(stall_at if due is None else min(due, stall_at)):
                            item = await queue.get()
                    except TimeoutError as exc:
                        if loop.time() < stall_at:
                            continue  # a held chunk is due
                        raise ProviderError("no audio from Azure TTS in time", provider=self.name) from exc
                    stall_at = loop.time() + self.stall_timeout
                    if _is_terminal(item):
                        finished = True
                        for chunk in order.ready(loop.time(), ended=True):
                            yield chunk
                        if isinstance(item, _Failure):
                            raise item.error
                        return
                    if isinstance(item, WordMark):
                        order.mark(item)
                    else:
                        assert isinstance(item, bytes)
                        order.add(item, loop.time())
            except RuntimeError as exc:
                raise ProviderError(f"Azure TTS request failed: {exc}", provider=self.name) from exc
            finally:
                try:
                    if not finished and not self._closed:
                        await self._cancel(queue)
                finally:
                    self._active = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._active is not None:
            self._active.put_nowait(_DONE)
        if self._synthesizer is not None:
            await asyncio.to_thread(self._release)

    # --- internals ---------------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._synthesizer is None and not self._closed:
            self._loop = asyncio.get_running_loop()
            self._link_ready.clear()
            await asyncio.to_thread(self._create)

    async def _await_preconnection(self) -> None:
        """A request sent while the pre-connection is being set up would open a second one: wait a little."""
        if not self._link_ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._link_ready.wait(), self.connect_wait)

    def _create(self) -> None:
        """Blocking: build the synthesizer, connect the event signals, open the connection."""
        azure_settings = speech_config(self.name)
        azure_settings.set_speech_synthesis_output_format(speechsdk.SpeechSynthesisOutputFormat.Raw8Khz8BitMonoMULaw)
        synthesizer = speechsdk.SpeechSynthesizer(speech_config=azure_settings, audio_config=None)
        synthesizer.synthesizing.connect(self._on_synthesizing)
        synthesizer.synthesis_completed.connect(self._on_completed)
        synthesizer.synthesis_canceled.connect(self._on_canceled)
        synthesizer.synthesis_word_boundary.connect(self._on_word_boundary)
        self._connection = speechsdk.Connection.from_speech_synthesizer(synthesizer)
        self._connection.connected.connect(self._on_connected)
        self._signals = (
            synthesizer.synthesizing,
            synthesizer.synthesis_completed,
            synthesizer.synthesis_canceled,
            synthesizer.synthesis_word_boundary,
            self._connection.connected,
        )
        self._connection.open(True)
        self._synthesizer = synthesizer

    async def _cancel(self, queue: asyncio.Queue[object]) -> None:
        """Stop the current synthesis (barge-in) and wait until the SDK reports it ended."""
        self._link_ready.clear()
        await asyncio.to_thread(self._stop_and_reconnect)
        try:
            async with asyncio.timeout(self.cancel_wait):
                while not _is_terminal(await queue.get()):
                    pass
        except TimeoutError:
            logger.warning("Azure TTS: no confirmation of the stopped synthesis")

    def _stop_and_reconnect(self) -> None:
        """Blocking: stopping closes the connection, so open a new one for the next sentence."""
        if self._synthesizer is None or self._connection is None:
            return
        self._synthesizer.stop_speaking_async().get()
        self._connection.open(True)

    def _release(self) -> None:
        """Blocking: stop, close the connection, disconnect every signal (else the SDK may abort at exit)."""
        try:
            if self._synthesizer is not None:
                self._synthesizer.stop_speaking_async().get()
            if self._connection is not None:
                self._connection.close()
        except Exception:  # teardown must go on
            logger.warning("Azure TTS: teardown failed", exc_info=True)
        finally:
            for signal in self._signals:
                signal.disconnect_all()
            self._signals = ()
            self._synthesizer = self._connection = None

    # SDK callbacks: they run on an SDK thread and only hand over to the event loop.

    def _on_synthesizing(self, event: speechsdk.SpeechSynthesisEventArgs) -> None:
        audio = event.result.audio_data
        if audio:
            self._post(audio)

    def _on_word_boundary(self, event: speechsdk.SpeechSynthesisWordBoundaryEventArgs) -> None:
        if event.boundary_type == speechsdk.SpeechSynthesisBoundaryType.Word:
            self._post(WordMark(event.text, event.audio_offset / TICKS_PER_MS))

    def _on_completed(self, event: speechsdk.SpeechSynthesisEventArgs) -> None:
        self._post(_DONE)

    def _on_canceled(self, event: speechsdk.SpeechSynthesisEventArgs) -> None:
        details = event.result.cancellation_details
        if details.reason == speechsdk.CancellationReason.Error:
            self._post(_Failure(cancellation_error(details, self.name)))
        else:
            self._post(_DONE)

    def _on_connected(self, event: speechsdk.ConnectionEventArgs) -> None:
        self._call_in_loop(self._link_ready.set)

    def _post(self, item: object) -> None:
        self._call_in_loop(self._deliver, item)

    def _call_in_loop(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(callback, *args)

    def _deliver(self, item: object) -> None:
        if self._active is not None:
            self._active.put_nowait(item)
