"""Audio helpers for 8 kHz μ-law telephone audio: framing, silence, and speech detection (webrtcvad)."""

from __future__ import annotations

import audioop
from dataclasses import dataclass

import webrtcvad

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # 160 bytes of μ-law
ULAW_SILENCE = b"\xff"
MIN_SPEECH_RMS = 200  # 16-bit PCM RMS below which a "voiced" frame is the VAD's hangover, not speech


def ulaw_ms(audio: bytes) -> float:
    """Duration of μ-law audio in ms."""
    return len(audio) * 1000 / SAMPLE_RATE


def silence(ms: int) -> bytes:
    return ULAW_SILENCE * (SAMPLE_RATE * ms // 1000)


class Framer:
    """Cuts a stream of μ-law chunks of any size into 20 ms frames (the rest waits for more audio)."""

    def __init__(self) -> None:
        self._pending = b""

    def push(self, audio: bytes) -> list[bytes]:
        data = self._pending + audio
        cut = len(data) - len(data) % FRAME_BYTES
        self._pending = data[cut:]
        return [data[i : i + FRAME_BYTES] for i in range(0, cut, FRAME_BYTES)]

    def flush(self) -> bytes | None:
        """The last partial frame padded with silence, if any."""
        if not self._pending:
            return None
        frame = self._pending + ULAW_SILENCE * (FRAME_BYTES - len(self._pending))
        self._pending = b""
        return frame


@dataclass(frozen=True, slots=True)
class VadSpeechStart:
    onset_ms: int  # stream time of the first voiced frame of the segment
    voiced_ms: int


@dataclass(frozen=True, slots=True)
class VadVoiced:
    voiced_ms: int  # voiced audio so far in the current segment


@dataclass(frozen=True, slots=True)
class VadSpeechEnd:
    end_ms: int  # stream time just after the last voiced frame


@dataclass(frozen=True, slots=True)
class VadQuiet:
    """``quiet_ms`` without voice inside a segment that is still open (the caller may be done, or pausing)."""


VadEvent = VadSpeechStart | VadVoiced | VadQuiet | VadSpeechEnd


class SpeechDetector:
    """Voice activity over 20 ms μ-law frames.

    A segment starts after ``start_frames`` voiced frames out of the last ``start_frames + 1`` and ends after
    ``end_of_speech_ms`` without voice. While a segment is open every voiced frame reports the voiced total, and
    the first ``quiet_ms`` without voice reports ``VadQuiet`` (once per silence).
    """

    def __init__(self, end_of_speech_ms: int = 600, mode: int = 3, start_frames: int = 3, quiet_ms: int = 200) -> None:
        self._vad = webrtcvad.Vad(mode)
        self._end_frames = max(1, end_of_speech_ms // FRAME_MS)
        self._quiet_frames = max(1, quiet_ms // FRAME_MS)
        self._start_frames = start_frames
        self._recent: list[bool] = []
        self._in_speech = False
        self._voiced = 0
        self._silent_run = 0
        self._onset = 0
        self._last_voiced_end = 0
        self.heard_voice = False

    def is_speech(self, frame: bytes) -> bool:
        return self._is_voiced(_pcm(frame))

    def _is_voiced(self, pcm: bytes) -> bool:
        return bool(pcm) and self._vad.is_speech(pcm, SAMPLE_RATE)

    def process(self, frame: bytes, at_ms: int) -> VadEvent | None:
        """Feed the frame that starts at stream time ``at_ms``; returns at most one event."""
        pcm = _pcm(frame)
        voiced = self._is_voiced(pcm)
        # webrtcvad keeps saying "voiced" for a few frames after speech (hangover): only frames with
        # energy move the end of speech, so silence is not counted as the caller still talking
        self.heard_voice = voiced and audioop.rms(pcm, 2) >= MIN_SPEECH_RMS
        if not self._in_speech:
            return self._maybe_start(voiced, at_ms)
        if voiced:
            self._silent_run = 0
            self._voiced += FRAME_MS
            if self.heard_voice:
                self._last_voiced_end = at_ms + FRAME_MS
            return VadVoiced(self._voiced)
        self._silent_run += 1
        if self._silent_run >= self._end_frames:
            self._in_speech, self._recent = False, []
            return VadSpeechEnd(self._last_voiced_end)
        return VadQuiet() if self._silent_run == self._quiet_frames else None

    def _maybe_start(self, voiced: bool, at_ms: int) -> VadEvent | None:
        self._recent.append(voiced)
        window = self._start_frames + 1
        if len(self._recent) > window:
            self._recent.pop(0)
        if sum(self._recent) < self._start_frames:
            return None
        first_voiced = self._recent.index(True)
        self._onset = at_ms - (len(self._recent) - 1 - first_voiced) * FRAME_MS
        self._in_speech, self._silent_run = True, 0
        self._voiced = sum(self._recent) * FRAME_MS
        self._last_voiced_end = at_ms + FRAME_MS
        return VadSpeechStart(self._onset, self._voiced)

    def restart_count(self) -> None:
        """A transcript closed the caller's utterance: count voiced time afresh from here."""
        self._voiced = 0

    @property
    def voiced_ms(self) -> int:
        return self._voiced if self._in_speech else 0


def _pcm(frame: bytes) -> bytes:
    """16-bit PCM of a whole 20 ms μ-law frame; nothing for a frame of any other size."""
    return audioop.ulaw2lin(frame, 2) if len(frame) == FRAME_BYTES else b""
