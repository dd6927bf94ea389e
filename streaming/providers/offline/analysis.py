"""After-call analysis without a model: an extractive summary, word-list sentiment, e-mail and phone fields."""

from __future__ import annotations

import re
from typing import Any

from streaming.providers.base import AnalysisResult, Analyzer, Message
from streaming.providers.config import CallConfig

SUMMARY_MAX_CHARS = 300

POSITIVE_WORDS = frozenset(
    "thanks thank great perfect good excellent helpful love awesome wonderful appreciate glad happy nice".split()
)
NEGATIVE_WORDS = frozenset(
    "angry bad terrible awful problem complaint frustrated upset wrong broken hate annoyed disappointed worst "
    "useless ridiculous unacceptable".split()
)
SMALL_TALK = frozenset("hi hello hey yes yeah no ok okay sure thanks thank you bye goodbye um uh".split())
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE_RE = re.compile(r"\+?\d[\d ().-]{5,}\d")
WORD_RE = re.compile(r"[a-z']+")


class OfflineAnalyzer(Analyzer):
    """Never fails and needs nothing: good enough to file a call when no model is configured."""

    name = "offline"

    def __init__(self, config: CallConfig) -> None:
        self.config = config

    def analyze(self, transcript: list[Message]) -> AnalysisResult:
        sentiment, reason = word_sentiment(transcript)
        return AnalysisResult(extractive_summary(transcript), sentiment, reason, regex_fields(self.config, transcript))


def is_substantive(text: str) -> bool:
    words = WORD_RE.findall(text.lower())
    return len([w for w in words if w not in SMALL_TALK]) >= 2


def extractive_summary(transcript: list[Message]) -> str:
    """The caller's first substantive utterance and the agent's answers after it, truncated."""
    start = next((i for i, m in enumerate(transcript) if m.role == "caller" and is_substantive(m.text)), None)
    if start is None:
        return "The caller did not state a request."
    answers = [m.text.strip() for m in transcript[start + 1 :] if m.role == "agent" and m.text.strip()]
    summary = f"Caller: {transcript[start].text.strip()}"
    if answers:
        summary += f" Agent: {' '.join(answers)}"
    return truncate(summary, SUMMARY_MAX_CHARS)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def word_sentiment(transcript: list[Message]) -> tuple[str, str]:
    words = [w for m in transcript if m.role == "caller" for w in WORD_RE.findall(m.text.lower())]
    positive = sorted({w for w in words if w in POSITIVE_WORDS})
    negative = sorted({w for w in words if w in NEGATIVE_WORDS})
    score = sum(w in POSITIVE_WORDS for w in words) - sum(w in NEGATIVE_WORDS for w in words)
    if score > 0:
        return "positive", "The caller used positive words: " + ", ".join(positive) + "."
    if score < 0:
        return "negative", "The caller used negative words: " + ", ".join(negative) + "."
    return "neutral", "No clearly positive or negative words from the caller."


def regex_fields(config: CallConfig, transcript: list[Message]) -> dict[str, Any]:
    """Fill e-mail and phone fields from what the caller said; other fields stay empty."""
    said = " ".join(m.text for m in transcript if m.role == "caller")
    found: dict[str, Any] = {}
    for f in config.extraction_fields:
        match = EMAIL_RE.search(said) if f.type == "email" else PHONE_RE.search(said) if f.type == "phone" else None
        if match:
            found[f.name] = match.group(0)
    return found
