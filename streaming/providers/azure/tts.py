"""Azure text-to-speech: SSML in, headerless μ-law 8 kHz chunks out, streamed as the service sends them,
with the service's word boundaries as ``WordMark``s."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from xml.sax.saxutils import escape, quoteattr

from streaming.providers.azure.synth_slot import Failure, SynthSlot, is_terminal
from streaming.providers.base import ProviderError, TextToSpeech, WordMark
from streaming.providers.config import CallConfig

MIN_RATE, MAX_RATE = 0.5, 2.0  # the prosody rates the service accepts
BYTES_PER_MS = 8  # μ-law 8 kHz
MAX_SYNTHESIZERS = 2  # speaks at the same time: the sentence being played and the one after it (look-ahead)


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
    """Up to two synthesizers per call, each with its own connection: two ``speak`` calls run at the same time.

    The engine synthesizes a reply's next sentence while the current one still streams (look-ahead,
    ``streaming/synthesis.py``); on one synthesizer the next request could only start when the current one has
    ended, leaving a hole of about the service's first-byte time at every sentence boundary. So a ``speak`` that
    finds the first synthesizer busy gets a second one, created then (the first time two speaks overlap) and kept,
    pre-connected, for the rest of the call. A third concurrent ``speak`` waits for a free one (first come, first
    served). ``start`` pre-connects only the first: a call whose speaks never overlap (fixed lines, one-sentence
    replies) never pays for the second.

    Cost of the second, per call: each SDK synthesizer carries its own native threads, buffers and websocket to
    the service (measured with SDK 1.53 against the wire fake: 5 threads, ~0.7 MB resident, ~100 MB of address
    space for their stacks and arenas; TLS buffers come on top with the real service), and the service counts it
    as one more concurrent connection. Created lazily, it costs nothing to calls whose speaks never overlap; its
    first use pays the connection set-up, mostly hidden behind the sentence being played.

    Requests reach the service in the order of the speaks: one waits (at most ``order_wait``) until the service
    has answered the one sent before it (its first audio, mark or end), so the sentence heard first is started
    first and the service (and its logs, and our wire fake's record) sees the reply in order. With a streaming
    LLM the next sentence usually comes after that anyway; when two come at once, the later one waits about one
    first-byte time while the earlier one plays.

    Audio comes from the ``synthesizing`` events as they arrive. Closing the iterator early (barge-in) stops
    that synthesis off the loop and pre-connects its synthesizer again; the other one is not disturbed.

    Word marks come from ``synthesis_word_boundary`` (connecting it is what makes the SDK ask the service for
    word boundaries; punctuation boundaries are dropped). Marks and audio reach the loop through one queue per
    synthesis; with ``on_word`` each chunk may wait up to ``word_wait`` for its marks (see ``_WordOrder``): past
    that a mark can come just after the chunk holding its start. Without ``on_word`` audio is never held.
    """

    name = "azure_tts"
    stall_timeout = 5.0  # seconds without any audio or result before giving up
    cancel_wait = 1.0  # seconds to wait for the SDK to confirm a stop
    connect_wait = 1.0  # seconds a request waits for a pre-connection in progress (else the SDK opens another)
    order_wait = 0.5  # seconds a request waits for the service to answer the one sent before it
    # Seconds a chunk may wait for word marks fired late on the SDK's other thread. 0: never hold audio (the
    # engine places a mark by its offset, so a mark that comes just after its chunk costs nothing there).
    word_wait = 0.0

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self._slots: list[SynthSlot] = []  # created in order, never more than MAX_SYNTHESIZERS; slot 0 preferred
        self._waiters: deque[asyncio.Future[SynthSlot | None]] = deque()  # speaks waiting for a free slot
        self._answered: asyncio.Event | None = None  # the latest speak's: set once the service answered it
        self._closed = False

    async def start(self) -> None:
        """Create the first synthesizer and open its connection. Raises ProviderError."""
        if not self._closed:
            if not self._slots:
                self._slots.append(SynthSlot(self.name))
            await self._slots[0].start()

    async def speak(self, text: str, on_word: Callable[[WordMark], None] | None = None) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        ssml = build_ssml(text, self.config.voice, self.config.language, self.config.speaking_rate)
        previous, self._answered = self._answered, asyncio.Event()  # this speak's place in the request order
        answered = self._answered
        slot: SynthSlot | None = None
        try:
            slot = await self._acquire()
            if slot is None:
                return
            await slot.start()
            if self._closed or slot.synthesizer is None:
                return
            await slot.await_link(self.connect_wait)
            if previous is not None and not previous.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(previous.wait(), self.order_wait)
            if self._closed:
                return
            async with contextlib.aclosing(self._stream(slot, ssml, on_word, answered)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            answered.set()
            if slot is not None:
                self._release(slot)

    async def close(self) -> None:
        """End every synthesis in progress, wake the speaks waiting for a synthesizer, release both."""
        if self._closed:
            return
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        for slot in self._slots:
            slot.interrupt()
        await asyncio.gather(*(slot.close() for slot in self._slots))

    # --- internals -----------------------------------------------------------------------------------

    async def _stream(
        self, slot: SynthSlot, ssml: str, on_word: Callable[[WordMark], None] | None, answered: asyncio.Event
    ) -> AsyncGenerator[bytes, None]:
        """One synthesis on ``slot``: its chunks as they come (each after its marks, see ``_WordOrder``).
        Closed early, it stops the synthesis and pre-connects the slot again."""
        loop = asyncio.get_running_loop()
        order = _WordOrder(on_word, self.word_wait)
        queue: asyncio.Queue[object] | None = None
        finished = False
        try:
            queue = slot.speak(ssml)
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
                answered.set()  # the service has this request: the next one may go
                if is_terminal(item):
                    finished = True
                    for chunk in order.ready(loop.time(), ended=True):
                        yield chunk
                    if isinstance(item, Failure):
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
                if queue is not None and not finished and not self._closed:
                    await slot.cancel(queue, self.cancel_wait)
            finally:
                slot.active = None

    async def _acquire(self) -> SynthSlot | None:
        """A free synthesizer (the first one first), else a new one up to the limit, else the next one freed.
        None once the call is closed."""
        if self._closed:
            return None
        slot = next((s for s in self._slots if not s.busy), None)
        if slot is None and len(self._slots) < MAX_SYNTHESIZERS:
            slot = SynthSlot(self.name)  # the second: only now that two speaks overlap
            self._slots.append(slot)
        if slot is None:
            waiter: asyncio.Future[SynthSlot | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                return await waiter  # handed over busy by _release (None: closed)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and (handed := waiter.result()) is not None:
                    self._release(handed)  # handed over just as this speak was cancelled: pass it on
                raise
        slot.busy = True
        return slot

    def _release(self, slot: SynthSlot) -> None:
        """Hand the slot to the longest-waiting speak, else mark it free."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        slot.busy = False
