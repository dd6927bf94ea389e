"""One Azure ``SpeechSynthesizer`` with its own connection: the unit ``AzureTTS`` pools (at most two per call).

A slot runs one synthesis at a time (the pool hands it to one ``speak`` at a time). Its SDK callbacks run on SDK
threads and only hand events to the loop, into the queue of the synthesis in progress on *this* slot, so two
slots never mix each other's audio or word marks. Blocking SDK calls (create, stop + reconnect, release) run off
the loop and are serialized per slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import azure.cognitiveservices.speech as speechsdk

from streaming.providers.azure.config import cancellation_error, speech_config
from streaming.providers.base import ProviderError, WordMark

logger = logging.getLogger(__name__)

TICKS_PER_MS = 10_000  # the SDK's audio offsets are in 100 ns ticks


@dataclass(frozen=True)
class Failure:
    error: ProviderError


DONE = object()  # the synthesis ended (completed, or stopped without an error)


def is_terminal(item: object) -> bool:
    return item is DONE or isinstance(item, Failure)


class SynthSlot:
    """A synthesizer, its connection and the synthesis running on it. ``busy`` is the pool's bookkeeping."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.busy = False
        self.synthesizer: speechsdk.SpeechSynthesizer | None = None
        self.active: asyncio.Queue[object] | None = None  # the queue of the synthesis in progress
        self._connection: speechsdk.Connection | None = None
        self._signals: tuple[speechsdk.EventSignal, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link_ready = asyncio.Event()
        self._starting: asyncio.Future[None] | None = None
        self._sdk_lock = threading.Lock()  # one blocking SDK operation at a time on this synthesizer
        self._closed = False

    async def start(self) -> None:
        """Create the synthesizer and start opening its connection (once; concurrent callers share the work).
        Raises ProviderError."""
        if self.synthesizer is not None or self._closed:
            return
        if self._starting is None:
            self._loop = asyncio.get_running_loop()
            self._link_ready.clear()
            self._starting = asyncio.ensure_future(asyncio.to_thread(self._create))
            self._starting.add_done_callback(self._started)
        await asyncio.shield(self._starting)

    async def await_link(self, wait: float) -> None:
        """A request sent while the pre-connection is being set up would open another one: wait a little."""
        if not self._link_ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._link_ready.wait(), wait)

    def speak(self, ssml: str) -> asyncio.Queue[object]:
        """Send one request; its audio (bytes), ``WordMark``s and end (``DONE``/``Failure``) come in the queue."""
        assert self.synthesizer is not None
        queue: asyncio.Queue[object] = asyncio.Queue()
        self.active = queue
        self.synthesizer.speak_ssml_async(ssml)  # returns at once; results come as events
        return queue

    async def cancel(self, queue: asyncio.Queue[object], wait: float) -> None:
        """Stop the current synthesis (barge-in), wait until the SDK reports it ended, pre-connect again."""
        self._link_ready.clear()
        await asyncio.to_thread(self._stop_and_reconnect)
        try:
            async with asyncio.timeout(wait):
                while not is_terminal(await queue.get()):
                    pass
        except TimeoutError:
            logger.warning("Azure TTS: no confirmation of the stopped synthesis")

    def interrupt(self) -> None:
        """End the synthesis in progress for its consumer (the call is closing)."""
        if self.active is not None:
            self.active.put_nowait(DONE)

    async def close(self) -> None:
        """Release the synthesizer and its connection, also one still being created. Idempotent."""
        self._closed = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._starting)
        if self.synthesizer is not None:
            await asyncio.to_thread(self._release)

    # --- blocking, off the loop --------------------------------------------------------------------

    def _create(self) -> None:
        """Build the synthesizer, connect the event signals, open the connection (the SDK connects in the
        background: ``connected`` says when)."""
        azure_settings = speech_config(self.provider)
        azure_settings.set_speech_synthesis_output_format(speechsdk.SpeechSynthesisOutputFormat.Raw8Khz8BitMonoMULaw)
        synthesizer = speechsdk.SpeechSynthesizer(speech_config=azure_settings, audio_config=None)
        synthesizer.synthesizing.connect(self._on_synthesizing)
        synthesizer.synthesis_completed.connect(self._on_completed)
        synthesizer.synthesis_canceled.connect(self._on_canceled)
        synthesizer.synthesis_word_boundary.connect(self._on_word_boundary)
        connection = speechsdk.Connection.from_speech_synthesizer(synthesizer)
        connection.connected.connect(self._on_connected)
        with self._sdk_lock:
            self._signals = (
                synthesizer.synthesizing,
                synthesizer.synthesis_completed,
                synthesizer.synthesis_canceled,
                synthesizer.synthesis_word_boundary,
                connection.connected,
            )
            self._connection = connection
            connection.open(True)
            self.synthesizer = synthesizer

    def _started(self, future: asyncio.Future[None]) -> None:
        self._starting = None  # a failed start is tried again by the next speak
        if not future.cancelled():
            future.exception()  # retrieved: whoever awaited it got it

    def _stop_and_reconnect(self) -> None:
        """Stopping closes the connection, so open a new one for the next sentence."""
        with self._sdk_lock:
            if self.synthesizer is None or self._connection is None:
                return
            self.synthesizer.stop_speaking_async().get()
            self._connection.open(True)

    def _release(self) -> None:
        """Stop, close the connection, disconnect every signal (else the SDK may abort at exit)."""
        with self._sdk_lock:
            try:
                if self.synthesizer is not None:
                    self.synthesizer.stop_speaking_async().get()
                if self._connection is not None:
                    self._connection.close()
            except Exception:  # teardown must go on
                logger.warning("Azure TTS: teardown failed", exc_info=True)
            finally:
                for signal in self._signals:
                    signal.disconnect_all()
                self._signals = ()
                self.synthesizer = self._connection = None

    # --- SDK callbacks: on an SDK thread, they only hand over to the event loop ---------------------

    def _on_synthesizing(self, event: speechsdk.SpeechSynthesisEventArgs) -> None:
        audio = event.result.audio_data
        if audio:
            self._post(audio)

    def _on_word_boundary(self, event: speechsdk.SpeechSynthesisWordBoundaryEventArgs) -> None:
        if event.boundary_type == speechsdk.SpeechSynthesisBoundaryType.Word:
            self._post(WordMark(event.text, event.audio_offset / TICKS_PER_MS))

    def _on_completed(self, event: speechsdk.SpeechSynthesisEventArgs) -> None:
        self._post(DONE)

    def _on_canceled(self, event: speechsdk.SpeechSynthesisEventArgs) -> None:
        details = event.result.cancellation_details
        if details.reason == speechsdk.CancellationReason.Error:
            self._post(Failure(cancellation_error(details, self.provider)))
        else:
            self._post(DONE)

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
        if self.active is not None:
            self.active.put_nowait(item)
