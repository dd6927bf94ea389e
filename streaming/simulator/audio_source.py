"""What the simulated caller says: offline speech (eSpeak NG) or a WAV file, as 8 kHz μ-law in 20 ms frames."""

from __future__ import annotations

import audioop
import base64
import functools
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streaming.providers.offline import espeak_engine

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz μ-law
FRAME_MS = 20
ULAW_SILENCE = b"\xff"
SILENT_FRAME = ULAW_SILENCE * FRAME_BYTES
SILENT_FRAME_B64 = base64.b64encode(SILENT_FRAME).decode()
SAMPLE_FORMATS: dict[int, Literal["b", "h", "i"]] = {1: "b", 2: "h", 4: "i"}  # memoryview codes by sample width
VOICE_RMS = 300  # RMS of 16-bit PCM above which a frame counts as speech


class AudioSourceError(ValueError):
    """A caller turn cannot be turned into audio (e.g. an unreadable WAV file)."""


@dataclass(frozen=True)
class CallerAudio:
    """One caller turn ready to stream: raw frames, their base64, and where the speech is in them."""

    ulaw: bytes
    frames_b64: tuple[str, ...]
    onset_frame: int  # first frame with speech
    end_frame: int  # one past the last frame with speech

    @property
    def duration_ms(self) -> int:
        return len(self.frames_b64) * FRAME_MS


@functools.lru_cache(maxsize=128)
def speech_ulaw(text: str, language: str = "en-us", rate: float = 1.0) -> bytes:
    """``text`` spoken by eSpeak NG as 8 kHz mono μ-law (blocking; cached)."""
    voice = espeak_engine.voice_language(language)
    audio = espeak_engine.synthesize_ulaw(text, voice, espeak_engine.words_per_minute(rate))
    if not audio:
        raise AudioSourceError(f"eSpeak NG produced no audio for {text!r}")
    return audio


def _mono(data: bytes, width: int, channels: int) -> tuple[bytes, int]:
    """Mono from interleaved PCM (the average of a stereo pair, the first channel of anything wider), and its width."""
    if channels == 1:
        return data, width
    if channels == 2:
        return audioop.tomono(data, width, 0.5, 0.5), width
    if width == 3:
        data, width = audioop.lin2lin(data, 3, 4), 4
    return memoryview(data).cast(SAMPLE_FORMATS[width])[::channels].tobytes(), width


def pcm_to_ulaw(data: bytes, width: int, channels: int, rate: int) -> bytes:
    """Signed little-endian PCM of any width/channels/rate → 8 kHz mono μ-law."""
    mono, width = _mono(data, width, channels)
    pcm16 = audioop.lin2lin(mono, width, 2) if width != 2 else mono
    if rate != SAMPLE_RATE:
        pcm16, _ = audioop.ratecv(pcm16, 2, 1, rate, SAMPLE_RATE, None)
    return audioop.lin2ulaw(pcm16, 2)


def wav_ulaw(path: str | Path) -> bytes:
    """A PCM WAV file (any rate, 8/16/24/32-bit, any channel count) as 8 kHz mono μ-law."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise AudioSourceError(f"WAV file not found: {path}") from None
    except (wave.Error, EOFError) as exc:
        raise AudioSourceError(f"{path} is not a PCM WAV file ({exc})") from None
    if width not in (1, 2, 3, 4) or not data:
        raise AudioSourceError(f"{path}: unsupported or empty WAV ({width * 8}-bit, {len(data)} bytes)")
    if width == 1:  # 8-bit WAV is unsigned
        data = audioop.bias(data, 1, -128)
    return pcm_to_ulaw(data, width, channels, rate)


def silence_ulaw(ms: int) -> bytes:
    return ULAW_SILENCE * (SAMPLE_RATE // 1000 * ms)


def split_frames(ulaw: bytes) -> list[bytes]:
    """20 ms frames, the last one padded with silence."""
    frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] += ULAW_SILENCE * (FRAME_BYTES - len(frames[-1]))
    return frames


def is_voiced(frame: bytes) -> bool:
    return audioop.rms(audioop.ulaw2lin(frame, 2), 2) > VOICE_RMS


def prepare(ulaw: bytes) -> CallerAudio:
    """Frame and base64-encode a turn once, and find its speech (first and last voiced frame)."""
    frames = split_frames(ulaw)
    voiced = [i for i, frame in enumerate(frames) if is_voiced(frame)]
    onset, end = (voiced[0], voiced[-1] + 1) if voiced else (0, len(frames))
    return CallerAudio(ulaw, tuple(base64.b64encode(f).decode() for f in frames), onset, end)


def caller_audio(
    text: str | None = None, wav: str | Path | None = None, *, language: str = "en-us", rate: float = 1.0
) -> CallerAudio:
    """A caller turn from text (offline TTS) or a WAV file. Blocking: run it in a thread."""
    if wav is not None:
        return prepare(wav_ulaw(wav))
    if not text or not text.strip():
        raise AudioSourceError("a caller turn needs text or a WAV file")
    return prepare(speech_ulaw(text.strip(), language, rate))
