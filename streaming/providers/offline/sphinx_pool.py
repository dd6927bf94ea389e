"""A bounded, process-wide pool of pocketsphinx decoders shared by every call of the process.

A decoder is only needed while a caller speaks, so a call checks one out per utterance and gives it
back at the end. Decoders are built for one ``Domain`` (an agent's phrases); an idle decoder of another
domain is replaced when the pool is full. pocketsphinx holds the GIL while it decodes, so all decoding
runs on ``DECODE_EXECUTOR`` in pieces of ``PIECE_BYTES`` (a few ms of CPU each): worker threads keep it
off the event loop, and the small pieces keep the loop's waits for the GIL short.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from streaming.providers.offline.sphinx_models import GRAMMAR_SEARCH, Domain, build_decoder, choose_text

SAMPLE_RATE = 16000
PIECE_BYTES = 1280  # 40 ms of 16 kHz PCM16 per process_raw call
DEFAULT_MAX_DECODERS = 4
# Where every call's first utterance starts pocketsphinx's cepstral mean: telephone speech through our μ-law 8 kHz →
# 16 kHz path (measured on offline-synthesized speech), instead of the model's wideband default ("40,3,-1,0…"),
# which misheard short first utterances ("how much does a haircut cost" → "how much okay"). A call then goes on from
# its own caller's mean (``CallDecoding``), never another call's: a pooled decoder keeps no caller's audio.
TELEPHONE_CMN = (
    "50.6072,-0.274096,1.33378,13.8838,8.15388,-3.58078,-5.37485,-6.44474,-8.30452,3.15159,-4.65774,0.497751,-3.19199"
)
DECODE_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sphinx")  # GIL-bound: more threads only queue


class Recognizer:
    """One decoder: streams an utterance through the domain language model, then re-checks it with the grammar."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.decoder = build_decoder(domain)
        self.free_search = self.decoder.current_search()
        self.audio = bytearray()
        self.in_utterance = False
        self.cepstral_mean = TELEPHONE_CMN  # after the last utterance's first pass: its caller's channel
        self._warm_up()

    def _warm_up(self) -> None:
        """Decode a moment of silence, so the first caller does not pay for pocketsphinx's lazy set-up."""
        self.begin()
        self.process(bytes(PIECE_BYTES * 5))
        self.finish()

    def begin(self, cepstral_mean: str = TELEPHONE_CMN) -> None:
        """A new utterance from ``cepstral_mean`` (the caller's own, or the telephone prior): pocketsphinx adapts the
        mean to the audio it decodes, and a pooled decoder must not carry another call's audio into this one."""
        self.audio.clear()
        self.decoder.set_cmn(cepstral_mean)
        self.decoder.start_utt()
        self.in_utterance = True

    def process(self, pcm16k: bytes) -> None:
        """Decode 16 kHz PCM16 audio of the current utterance."""
        self.audio += pcm16k
        for start in range(0, len(pcm16k), PIECE_BYTES):
            self.decoder.process_raw(pcm16k[start : start + PIECE_BYTES], False, False)

    def partial(self) -> str:
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""

    def finish(self) -> str:
        """End the utterance and return its final text (may be empty)."""
        self.abort()
        self.cepstral_mean = self.decoder.get_cmn()
        free_text = self.partial()
        return choose_text(free_text, self._decode_again(GRAMMAR_SEARCH), self.domain)

    def abort(self) -> None:
        if self.in_utterance:
            self.in_utterance = False
            self.decoder.end_utt()

    def _decode_again(self, search: str) -> str:
        """The utterance decoded with another search (the grammar costs ~0.02 s CPU per second of audio)."""
        self.decoder.activate_search(search)
        try:
            self.decoder.start_utt()
            for start in range(0, len(self.audio), PIECE_BYTES):
                self.decoder.process_raw(bytes(self.audio[start : start + PIECE_BYTES]), False, False)
            self.decoder.end_utt()
            return self.partial()
        finally:
            self.decoder.activate_search(self.free_search)


class RecognizerPool:
    """At most ``max_size`` recognizers in the process, checked out one utterance at a time."""

    def __init__(self, max_size: int = DEFAULT_MAX_DECODERS) -> None:
        self.max_size = max_size
        self._lock = threading.Lock()
        self._idle: list[Recognizer] = []  # least recently used first
        self._busy = 0
        self._building = 0

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def idle(self) -> int:
        return len(self._idle)

    def try_acquire(self, domain: Domain) -> Recognizer | None:
        """An idle recognizer for ``domain`` (built if the pool has room), or None when all are busy.

        Blocking only to build a recognizer (~50 ms): call it from a worker thread.
        """
        with self._lock:
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index].domain == domain:
                    self._busy += 1
                    return self._idle.pop(index)
            if len(self._idle) + self._busy + self._building >= self.max_size:
                if not self._idle:
                    return None
                self._idle.pop(0)  # replace the least recently used recognizer of another domain
            self._building += 1
        try:
            recognizer = Recognizer(domain)
        finally:
            with self._lock:
                self._building -= 1
        with self._lock:
            self._busy += 1
        return recognizer

    def release(self, recognizer: Recognizer) -> None:
        recognizer.abort()
        with self._lock:
            self._busy -= 1
            self._idle.append(recognizer)

    def warm_up(self, domain: Domain) -> None:
        """Build one recognizer for ``domain`` ahead of the first utterance (if there is room)."""
        recognizer = self.try_acquire(domain)
        if recognizer is not None:
            self.release(recognizer)

    def clear(self) -> None:
        """Drop the idle recognizers (busy ones come back to the pool when released)."""
        with self._lock:
            self._idle.clear()


@functools.cache
def default_pool() -> RecognizerPool:
    """The process-wide pool; ``settings.OFFLINE_STT_MAX_DECODERS`` bounds it (default 4)."""
    size = getattr(settings, "OFFLINE_STT_MAX_DECODERS", DEFAULT_MAX_DECODERS) if settings.configured else None
    return RecognizerPool(size or DEFAULT_MAX_DECODERS)
