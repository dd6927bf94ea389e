"""The process-wide eSpeak NG engine (the ``espeakng-loader`` wheel, driven through ctypes).

libespeak-ng keeps global state and is not thread-safe, so every call into it happens on one worker
thread: ``submit`` queues a ``SynthesisRequest`` there and returns a future. The synchronous API hands
audio to a callback every ``CHUNK_MS`` of speech; each piece is converted to 8 kHz μ-law right away and
passed to ``request.on_chunk``, and setting ``request.cancelled`` aborts the synthesis at the next piece.
eSpeak NG is GPL-3.0, loaded as a shared library at run time.
"""

from __future__ import annotations

import audioop
import ctypes
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import espeakng_loader

from streaming.providers.offline.audio import Resampler

OUTPUT_RATE = 8000
FRAME_BYTES = 160  # chunks are whole 20 ms frames of μ-law, except the last one of an utterance
CHUNK_MS = 100  # how much speech eSpeak synthesizes between two callbacks
NORMAL_WPM = 175  # eSpeak's default speed, used for speaking_rate 1.0
MIN_WPM, MAX_WPM = 80, 450
FALLBACK_LANGUAGE = "en"

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _VoiceProperties(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def voice_language(language: str) -> str:
    """eSpeak's language name for a BCP-47 tag: "en-US" -> "en-us"."""
    return language.strip().replace("_", "-").lower() or FALLBACK_LANGUAGE


def words_per_minute(speaking_rate: float) -> int:
    """eSpeak speed for a relative speaking rate (1.0 = normal), clamped to what eSpeak accepts."""
    return max(MIN_WPM, min(MAX_WPM, round(NORMAL_WPM * speaking_rate)))


@dataclass
class SynthesisRequest:
    """One utterance to synthesize. ``on_chunk`` is called on the engine thread with μ-law bytes."""

    text: str
    language: str = "en-us"
    wpm: int = NORMAL_WPM
    on_chunk: Callable[[bytes], None] = lambda chunk: None
    cancelled: threading.Event = field(default_factory=threading.Event)


class _UlawStream:
    """eSpeak's PCM16 pieces -> 8 kHz μ-law in whole frames, handed to ``request.on_chunk``."""

    def __init__(self, request: SynthesisRequest, sample_rate: int) -> None:
        self.request = request
        self.resampler = Resampler(sample_rate, OUTPUT_RATE)
        self.pending = b""

    def push(self, pcm16: bytes) -> None:
        pcm = self.resampler.process(pcm16)
        data = self.pending + audioop.lin2ulaw(pcm, 2)
        whole = len(data) - len(data) % FRAME_BYTES
        self.pending = data[whole:]
        if whole:
            self.request.on_chunk(data[:whole])

    def flush(self) -> None:
        if self.pending and not self.request.cancelled.is_set():
            self.request.on_chunk(self.pending)
        self.pending = b""


class EspeakEngine:
    """The one libespeak-ng instance of this process. Use it from the engine thread only."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_dir = os.path.dirname(espeakng_loader.get_data_path()).encode()
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, CHUNK_MS, data_dir, _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sample_rate})")
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self._language: str | None = None
        self._stream: _UlawStream | None = None

    def synthesize(self, request: SynthesisRequest) -> None:
        """Synthesize ``request`` completely (or until it is cancelled), delivering chunks as they come."""
        if request.cancelled.is_set() or not request.text.strip():
            return
        self._use_language(request.language)
        self.lib.espeak_SetParameter(_PARAM_RATE, request.wpm, 0)
        self._stream = stream = _UlawStream(request, self.sample_rate)
        text = request.text.encode("utf-8")
        try:
            self.lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        finally:
            self._stream = None
        stream.flush()

    def _use_language(self, language: str) -> None:
        if language == self._language:
            return
        for candidate in (language, language.split("-")[0], FALLBACK_LANGUAGE):
            voice = _VoiceProperties(languages=candidate.encode())
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(voice)) == _EE_OK:
                break
        self._language = language

    def _on_audio(self, samples: ctypes._Pointer[ctypes.c_short], count: int, events: int) -> int:
        stream = self._stream
        if stream is None or stream.request.cancelled.is_set():
            return 1  # abort the synthesis
        if samples and count > 0:
            try:
                stream.push(ctypes.string_at(samples, count * 2))
            except Exception:  # the consumer is gone (e.g. its event loop closed): stop this synthesis
                stream.request.cancelled.set()
                return 1
        return 0


_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
_engine: EspeakEngine | None = None


def _run(request: SynthesisRequest) -> None:
    global _engine
    if _engine is None:
        _engine = EspeakEngine()
    _engine.synthesize(request)


def submit(request: SynthesisRequest) -> Future[None]:
    """Queue ``request`` on the engine thread; the future completes when its synthesis has ended."""
    return _executor.submit(_run, request)


def synthesize_ulaw(text: str, language: str = "en-us", wpm: int = NORMAL_WPM) -> bytes:
    """Blocking helper: the whole utterance as 8 kHz μ-law (do not call from the event loop)."""
    chunks: list[bytes] = []
    submit(SynthesisRequest(text, language, wpm, chunks.append)).result()
    return b"".join(chunks)
