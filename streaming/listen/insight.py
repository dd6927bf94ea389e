"""What listen mode watches for while a call runs: alert phrases, rolling sentiment per speaker, talk and silence.

Pure: no asyncio, no Django. Times are stream milliseconds (each track's audio clock starts with the stream).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

ROLES = ("caller", "person")
ROLLING = 3  # a speaker's rolling sentiment: the mean of their last this many utterances
FRAME_MS = 20


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """``phrase`` as a case-insensitive, word-bounded pattern ("lawyer" is not found in "lawyers"; any spacing
    between the words of "cancel my account")."""
    words = [re.escape(word) for word in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def alert_patterns(phrases: Iterable[str]) -> list[tuple[str, re.Pattern[str]]]:
    return [(phrase, phrase_pattern(phrase)) for phrase in dict.fromkeys(p.strip().lower() for p in phrases) if phrase]


def matched_phrases(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    """The alert phrases said in ``text``, each once, in the configured order."""
    return [phrase for phrase, pattern in patterns if pattern.search(text)]


@dataclass
class Speaker:
    talk_ms: int = 0
    scores: deque[float] = field(default_factory=lambda: deque(maxlen=ROLLING))
    utterances: int = 0

    @property
    def rolling(self) -> float | None:
        return round(sum(self.scores) / len(self.scores), 3) if self.scores else None


class LiveInsight:
    """Per-speaker talk time and rolling sentiment, the call's current and longest silence (both sides quiet,
    counted from the first voice)."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.patterns = alert_patterns(phrases)
        self.speakers = {role: Speaker() for role in ROLES}
        self._voice_end: int | None = None  # stream time just after the last voiced frame of either side
        self.longest_silence_ms = 0

    def alerts(self, text: str) -> list[str]:
        return matched_phrases(text, self.patterns)

    def voiced(self, role: str, at_ms: int) -> None:
        """A frame of ``role`` starting at ``at_ms`` had voice in it."""
        self.speakers[role].talk_ms += FRAME_MS
        if self._voice_end is not None:
            self.longest_silence_ms = max(self.longest_silence_ms, at_ms - self._voice_end)
        self._voice_end = max(self._voice_end or 0, at_ms + FRAME_MS)

    def scored(self, role: str, score: float) -> float | None:
        """An utterance of ``role`` scored ``score``; returns the speaker's rolling sentiment."""
        speaker = self.speakers[role]
        speaker.scores.append(score)
        speaker.utterances += 1
        return speaker.rolling

    def snapshot(self, now_ms: int) -> dict:
        """The live page's figures at stream time ``now_ms``."""
        caller, person = self.speakers["caller"].talk_ms, self.speakers["person"].talk_ms
        silence = max(0, now_ms - self._voice_end) if self._voice_end is not None else 0
        return {
            "caller_talk_ms": caller,
            "person_talk_ms": person,
            "caller_share": round(caller / (caller + person), 3) if caller + person else None,
            "silence_ms": silence,
            "longest_silence_ms": max(self.longest_silence_ms, silence),
            "sentiment": {role: s.rolling for role, s in self.speakers.items()},
        }
