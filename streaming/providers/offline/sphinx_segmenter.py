"""Utterance boundaries in 8 kHz caller audio: webrtcvad on 20 ms frames plus a trailing-silence timer."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # PCM16
START_WINDOW = 5  # speech starts when START_VOICED of the last START_WINDOW frames are voiced
START_VOICED = 3
PREROLL_FRAMES = 15  # 300 ms kept before the start so the first sound is not cut
MAX_UTTERANCE_MS = 30_000


@dataclass
class Segment:
    """What one frame means for the utterance: audio to decode, and whether it starts or ends one."""

    audio: bytes = b""
    started: bool = False
    ended: bool = False


class SpeechSegmenter:
    """Feeds on 20 ms PCM16 frames; an utterance ends after ``end_of_speech_ms`` without voiced frames."""

    def __init__(self, end_of_speech_ms: int, *, mode: int = 2) -> None:
        self.vad = webrtcvad.Vad(mode)
        self.end_frames = max(1, end_of_speech_ms // FRAME_MS)
        self.preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self.recent: deque[bool] = deque(maxlen=START_WINDOW)
        self.speaking = False
        self.silent_frames = 0
        self.utterance_frames = 0

    def push(self, frame: bytes) -> Segment:
        """Classify one FRAME_BYTES frame of 8 kHz PCM16."""
        voiced = self.vad.is_speech(frame, SAMPLE_RATE)
        if not self.speaking:
            self.preroll.append(frame)
            self.recent.append(voiced)
            if sum(self.recent) < START_VOICED:
                return Segment()
            audio = b"".join(self.preroll)
            self.preroll.clear()
            self.recent.clear()
            self.speaking, self.silent_frames, self.utterance_frames = True, 0, len(audio) // FRAME_BYTES
            return Segment(audio, started=True)
        self.silent_frames = 0 if voiced else self.silent_frames + 1
        self.utterance_frames += 1
        if self.silent_frames >= self.end_frames or self.utterance_frames * FRAME_MS >= MAX_UTTERANCE_MS:
            self.speaking = False
            return Segment(frame, ended=True)
        return Segment(frame)
