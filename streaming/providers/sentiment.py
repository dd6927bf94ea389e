"""Sentiment of one utterance, from -1 (negative) to +1 (positive): the LLM when one is configured, else VADER.

VADER (``vaderSentiment``: a maintained lexicon and rule set made for short, informal text) scores offline in well
under a millisecond; its compound score is the utterance's score. The LLM scorer asks the agent's model for one
number, bounded by ``LLM_TIMEOUT_S``; when it fails or answers nonsense, the utterance is scored by VADER instead
(a live call never waits long for a sentiment, and never goes without one).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Protocol

from streaming.providers.config import CallConfig
from streaming.providers.openai.client import configured as openai_configured

log = logging.getLogger(__name__)

POSITIVE_AT = 0.05  # VADER's own thresholds for its compound score
NEGATIVE_AT = -0.05
LLM_TIMEOUT_S = 4.0
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class SentimentScorer(Protocol):
    name: str

    async def score(self, text: str) -> float:
        """-1 … +1. Never raises."""
        ...


@functools.cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_score(text: str) -> float:
    """VADER's compound score of ``text`` (0.0 for nothing), rounded to 3 places."""
    if not text.strip():
        return 0.0
    return round(float(_vader().polarity_scores(text)["compound"]), 3)


def label(score: float) -> str:
    """positive | neutral | negative, by VADER's thresholds."""
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


class OfflineSentiment:
    name = "vader"

    async def score(self, text: str) -> float:
        return vader_score(text)


class OpenAISentiment:
    """One short chat completion per utterance on the process's shared client; VADER when it fails."""

    name = "openai"

    def __init__(self, config: CallConfig) -> None:
        self.config = config

    async def score(self, text: str) -> float:
        if not text.strip():
            return 0.0
        try:
            return await self._ask(text)
        except Exception as exc:  # any failure of the model: the offline score, and one log line
            log.info("Sentiment by the LLM failed (%s); scored offline", type(exc).__name__)
            return vader_score(text)

    async def _ask(self, text: str) -> float:
        import openai

        from streaming.providers.openai.client import shared_client

        client = shared_client(openai.AsyncOpenAI, timeout=LLM_TIMEOUT_S, max_retries=0)
        response = await client.chat.completions.create(
            model=self.config.llm_model,
            temperature=0,
            max_tokens=8,
            messages=[
                {
                    "role": "system",
                    "content": "Rate the sentiment of the phone call utterance the user sends, from -1 (very "
                    "negative) to 1 (very positive), 0 neutral. Reply with the number only.",
                },
                {"role": "user", "content": text[:2000]},
            ],
        )
        content = response.choices[0].message.content if response.choices else ""
        match = NUMBER.search(content or "")
        if match is None:
            raise ValueError("no number in the reply")
        return round(max(-1.0, min(1.0, float(match.group()))), 3)


def create_sentiment(config: CallConfig) -> SentimentScorer:
    """The agent's language model vendor when it is configured ("auto" or "openai"), else VADER."""
    choice = config.llm_provider
    if choice == "openai" or (choice == "auto" and openai_configured()):
        return OpenAISentiment(config)
    return OfflineSentiment()
