"""After-call analysis: summary, sentiment and structured data from a finished transcript.

A leaf module like the rest of ``streaming.providers``: stdlib, openai, settings and ``base`` only.
"auto" uses an OpenAI-compatible server (JSON output) when one is configured, else the offline analyzer.
Values in ``AnalysisResult.data`` are raw: the caller validates them against the declared field types.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import openai
from django.conf import settings

from streaming.providers.base import AgentSpec, ExtractionField, Message, ProviderError

SENTIMENTS = ("positive", "neutral", "negative")
SUMMARY_MAX_CHARS = 300
TIMEOUT_SECONDS = 30.0

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


@dataclass(frozen=True)
class AnalysisResult:
    summary: str
    sentiment: str
    sentiment_reason: str
    data: dict[str, Any] = field(default_factory=dict)


def openai_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def analyzer_key(spec: AgentSpec) -> str:
    """The analyzer to use ("openai" or "offline"), resolving "auto" like the provider registry does."""
    if spec.llm_provider == "auto":
        return "openai" if openai_configured() else "offline"
    return "openai" if spec.llm_provider == "openai" else "offline"


def analyze_call(spec: AgentSpec, transcript: list[Message]) -> AnalysisResult:
    """Analyse a finished call. Raises ProviderError when the analysis provider fails."""
    if analyzer_key(spec) == "openai":
        return openai_analysis(spec, transcript)
    return offline_analysis(spec, transcript)


# --- OpenAI-compatible (JSON output) ---


def transcript_text(transcript: list[Message]) -> str:
    labels = {"caller": "Caller", "agent": "Agent", "system": "System", "tool": "Tool"}
    return "\n".join(f"{labels.get(m.role, m.role)}: {m.text}" for m in transcript if m.text.strip())


def field_lines(fields: tuple[ExtractionField, ...]) -> str:
    if not fields:
        return "(none: return an empty object)"
    return "\n".join(f"- {f.name} ({f.type}){': ' + f.description if f.description else ''}" for f in fields)


def analysis_prompt(spec: AgentSpec) -> str:
    """The system prompt: what to return, the operator's focus and the fields to extract."""
    focus = spec.summary_instructions.strip() or "What the caller wanted and how it was resolved."
    return (
        "You analyse the transcript of a phone call between a caller and an AI phone agent.\n"
        "Reply with one JSON object with exactly these keys:\n"
        '"summary": a short summary (at most 3 sentences),\n'
        '"sentiment": the caller\'s overall sentiment, one of "positive", "neutral", "negative",\n'
        '"sentiment_reason": one line explaining the sentiment,\n'
        '"data": an object with one key per field below; use null when the call does not say.\n'
        "Dates as YYYY-MM-DD, booleans as true/false, numbers as JSON numbers, phone numbers in E.164.\n\n"
        f"Summary focus: {focus}\n\nFields:\n{field_lines(spec.extraction_fields)}"
    )


def openai_analysis(spec: AgentSpec, transcript: list[Message]) -> AnalysisResult:
    client = openai.OpenAI(
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY or "not-needed",
        timeout=TIMEOUT_SECONDS,
        max_retries=0,  # Celery retries with backoff
    )
    messages = [
        {"role": "system", "content": analysis_prompt(spec)},
        {"role": "user", "content": f"Transcript:\n{transcript_text(transcript) or '(nobody spoke)'}"},
    ]
    try:
        response = client.chat.completions.create(
            model=spec.llm_model, messages=messages, response_format={"type": "json_object"}, temperature=0
        )
    except openai.APIStatusError as exc:
        permanent = exc.status_code in (400, 401, 403, 404, 422)
        raise ProviderError(f"HTTP {exc.status_code}", provider="openai", permanent=permanent) from exc
    except openai.OpenAIError as exc:
        raise ProviderError(f"{type(exc).__name__}: {exc}", provider="openai") from exc
    finally:
        client.close()
    content = response.choices[0].message.content if response.choices else None
    return parse_analysis(content or "")


def parse_analysis(content: str) -> AnalysisResult:
    """Turn the model's JSON into a result; malformed output is a (transient) provider error."""
    try:
        payload = json.loads(content)
    except ValueError as exc:
        raise ProviderError("analysis reply is not JSON", provider="openai") from exc
    if not isinstance(payload, dict):
        raise ProviderError("analysis reply is not a JSON object", provider="openai")
    sentiment = str(payload.get("sentiment") or "").strip().lower()
    data = payload.get("data")
    return AnalysisResult(
        summary=str(payload.get("summary") or "").strip(),
        sentiment=sentiment if sentiment in SENTIMENTS else "neutral",
        sentiment_reason=str(payload.get("sentiment_reason") or "").strip()[:300],
        data=data if isinstance(data, dict) else {},
    )


# --- Offline (no model) ---


def offline_analysis(spec: AgentSpec, transcript: list[Message]) -> AnalysisResult:
    sentiment, reason = word_sentiment(transcript)
    return AnalysisResult(extractive_summary(transcript), sentiment, reason, regex_fields(spec, transcript))


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


def regex_fields(spec: AgentSpec, transcript: list[Message]) -> dict[str, Any]:
    """Fill e-mail and phone fields from what the caller said; other fields stay empty."""
    said = " ".join(m.text for m in transcript if m.role == "caller")
    found: dict[str, Any] = {}
    for f in spec.extraction_fields:
        match = EMAIL_RE.search(said) if f.type == "email" else PHONE_RE.search(said) if f.type == "phone" else None
        if match:
            found[f.name] = match.group(0)
    return found
