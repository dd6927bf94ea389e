"""Offline speech-to-text: pocketsphinx with an agent-biased language model, no network and no keys.

``feed`` only queues the frame. A pump task per call runs the voice activity detector (microseconds per
frame) and, only while the caller speaks, hands the audio in batches of ~100 ms to a worker thread,
which resamples it to 16 kHz and decodes it with a recognizer checked out of the process-wide pool for
that utterance. Partials come at most every ``PARTIAL_INTERVAL`` seconds and only when they change; the
final comes after ``config.end_of_speech_ms`` of trailing silence.
"""

from __future__ import annotations

import asyncio
import audioop
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator

from streaming.providers.base import ProviderError, SpeechToText, Transcript
from streaming.providers.config import CallConfig
from streaming.providers.offline.sphinx_models import Domain, domain_for
from streaming.providers.offline.sphinx_pool import (
    DECODE_EXECUTOR,
    TELEPHONE_CMN,
    Recognizer,
    RecognizerPool,
    default_pool,
)
from streaming.providers.offline.sphinx_segmenter import FRAME_BYTES, SpeechSegmenter

ULAW_FRAME_BYTES = FRAME_BYTES // 2
BATCH_BYTES = 5 * FRAME_BYTES  # decode in batches of 100 ms of speech
PARTIAL_INTERVAL = 0.3
POOL_RETRY_SECONDS = 0.05
_CLOSED = object()


class _UtteranceOps:
    """Work queued for the decoder thread: ("start" | "audio" | "end", 8 kHz PCM16)."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, bytes]] = []
        self.audio_bytes = 0

    def add(self, kind: str, audio: bytes = b"") -> None:
        if kind == "audio" and self.ops and self.ops[-1][0] == "audio":
            self.ops[-1] = ("audio", self.ops[-1][1] + audio)
        else:
            self.ops.append((kind, audio))
        self.audio_bytes += len(audio)

    def ready(self) -> bool:
        """Worth a trip to the decoder thread: an utterance starts or ends, or enough speech piled up."""
        return any(kind != "audio" for kind, _ in self.ops) or self.audio_bytes >= BATCH_BYTES

    def take(self) -> list[tuple[str, bytes]]:
        ops, self.ops, self.audio_bytes = self.ops, [], 0
        return ops


class CallDecoding:
    """One call's utterances through pooled recognizers. Runs on decoder threads, one job at a time."""

    def __init__(self, pool: RecognizerPool, domain: Domain) -> None:
        self.pool = pool
        self.domain = domain
        self.lock = threading.Lock()
        self.recognizer: Recognizer | None = None
        self.speaking = False
        self.waiting = bytearray()  # 16 kHz audio of an utterance that has no recognizer yet
        self.ratecv_state: tuple | None = None
        self.partial_text = ""
        self.partial_at = 0.0
        self.cepstral_mean = TELEPHONE_CMN  # this caller's, once an utterance was decoded

    def run(self, ops: list[tuple[str, bytes]]) -> tuple[list[Transcript], list[tuple[str, bytes]]]:
        """Apply ``ops``; returns the transcripts and the ops left over when no recognizer was free."""
        results: list[Transcript] = []
        with self.lock:
            for index, (kind, audio) in enumerate(ops):
                if kind == "start":
                    self._start()
                elif kind == "audio":
                    self._audio(audio)
                elif not self._end(results):
                    return results, ops[index:]
            self._maybe_partial(results)
        return results, []

    def abort(self) -> None:
        """Drop the current utterance and give its recognizer back."""
        with self.lock:
            self.speaking = False
            self.waiting.clear()
            self._release()

    def _start(self) -> None:
        self._release()
        self.speaking, self.ratecv_state, self.partial_text, self.partial_at = True, None, "", time.monotonic()
        self.waiting.clear()

    def _audio(self, pcm8k: bytes) -> None:
        if not self.speaking:
            return
        pcm16k, self.ratecv_state = audioop.ratecv(pcm8k, 2, 1, 8000, 16000, self.ratecv_state)
        if self.recognizer is None:
            self.waiting += pcm16k
            self._checkout()
        else:
            self.recognizer.process(pcm16k)

    def _checkout(self) -> bool:
        if self.recognizer is None:
            self.recognizer = self.pool.try_acquire(self.domain)
            if self.recognizer is None:
                return False
            self.recognizer.begin(self.cepstral_mean)
            self.recognizer.process(bytes(self.waiting))
            self.waiting.clear()
        return True

    def _end(self, results: list[Transcript]) -> bool:
        if not self.speaking:
            return True
        if not self._checkout() or self.recognizer is None:
            return False
        text = self.recognizer.finish()
        self.cepstral_mean = self.recognizer.cepstral_mean
        self._release()
        self.speaking = False
        if text:
            results.append(Transcript(text, final=True))
        return True

    def _maybe_partial(self, results: list[Transcript]) -> None:
        if self.recognizer is None or not self.speaking or time.monotonic() - self.partial_at < PARTIAL_INTERVAL:
            return
        text = self.recognizer.partial()
        if text and text != self.partial_text:
            self.partial_text, self.partial_at = text, time.monotonic()
            results.append(Transcript(text, final=False))

    def _release(self) -> None:
        if self.recognizer is not None:
            recognizer, self.recognizer = self.recognizer, None
            self.pool.release(recognizer)


class PocketsphinxSTT(SpeechToText):
    """Offline recognizer for one call (US English model; other languages are decoded as English)."""

    name = "pocketsphinx"

    def __init__(self, config: CallConfig, *, pool: RecognizerPool | None = None) -> None:
        self.config = config
        self.pool = pool or default_pool()
        self.domain = domain_for(config)
        self.segmenter = SpeechSegmenter(config.end_of_speech_ms)
        self.decoding = CallDecoding(self.pool, self.domain)
        self._incoming: deque[bytes] = deque()
        self._remainder = b""
        self._ops = _UtteranceOps()
        self._wakeup = asyncio.Event()
        self._results: asyncio.Queue = asyncio.Queue()
        self._pump: asyncio.Task | None = None
        self._closed = False

    async def start(self) -> None:
        self._ensure_pump()
        DECODE_EXECUTOR.submit(self.pool.warm_up, self.domain)

    def feed(self, ulaw: bytes) -> None:
        if self._closed:
            return
        self._incoming.append(ulaw)
        self._ensure_pump()
        self._wakeup.set()

    async def results(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._results.get()
            if item is _CLOSED:
                return
            if isinstance(item, ProviderError):
                raise item
            yield item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        with contextlib.suppress(RuntimeError):  # the executor is gone when the interpreter exits
            await asyncio.get_running_loop().run_in_executor(DECODE_EXECUTOR, self.decoding.abort)
        self._results.put_nowait(_CLOSED)

    def _ensure_pump(self) -> None:
        if self._pump is None and not self._closed:
            self._pump = asyncio.get_running_loop().create_task(self._run_pump(), name="pocketsphinx-pump")

    async def _run_pump(self) -> None:
        loop = asyncio.get_running_loop()
        leftover: list[tuple[str, bytes]] = []
        try:
            while not self._closed:
                if not leftover:
                    await self._wakeup.wait()
                self._wakeup.clear()
                self._segment_incoming()
                if not (leftover or self._ops.ready()):
                    continue
                ops = leftover + self._ops.take()
                transcripts, leftover = await loop.run_in_executor(DECODE_EXECUTOR, self.decoding.run, ops)
                for transcript in transcripts:
                    self._results.put_nowait(transcript)
                if leftover:  # every recognizer is busy: try again shortly
                    await asyncio.sleep(POOL_RETRY_SECONDS)
        except Exception as exc:  # surfaced to the consumer of results(); later frames are dropped
            self._closed = True
            self._incoming.clear()
            self._results.put_nowait(ProviderError(f"offline STT failed: {exc}", provider=self.name))

    def _segment_incoming(self) -> None:
        data = self._remainder + b"".join(self._drain())
        usable = len(data) - len(data) % ULAW_FRAME_BYTES
        self._remainder = data[usable:]
        for start in range(0, usable, ULAW_FRAME_BYTES):
            segment = self.segmenter.push(audioop.ulaw2lin(data[start : start + ULAW_FRAME_BYTES], 2))
            if segment.started:
                self._ops.add("start")
            if segment.audio:
                self._ops.add("audio", segment.audio)
            if segment.ended:
                self._ops.add("end")

    def _drain(self) -> list[bytes]:
        chunks = []
        while self._incoming:
            chunks.append(self._incoming.popleft())
        return chunks
