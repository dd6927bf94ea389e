"""After-call analysis by an OpenAI-compatible server: summary, sentiment and structured data as one JSON object."""

from __future__ import annotations

import json

import openai
from openai.types.chat import ChatCompletionMessageParam

from streaming.providers.base import AnalysisResult, Analyzer, Message, ProviderError
from streaming.providers.config import CallConfig, ExtractionField
from streaming.providers.openai.client import create_client

SENTIMENTS = ("positive", "neutral", "negative")
TIMEOUT_SECONDS = 30.0


def transcript_text(transcript: list[Message]) -> str:
    labels = {"caller": "Caller", "agent": "Agent", "system": "System", "tool": "Tool"}
    return "\n".join(f"{labels.get(m.role, m.role)}: {m.text}" for m in transcript if m.text.strip())


def field_lines(fields: tuple[ExtractionField, ...]) -> str:
    if not fields:
        return "(none: return an empty object)"
    return "\n".join(f"- {f.name} ({f.type}){': ' + f.description if f.description else ''}" for f in fields)


def analysis_prompt(config: CallConfig) -> str:
    """The system prompt: what to return, the operator's focus and the fields to extract."""
    focus = config.summary_instructions.strip() or "What the caller wanted and how it was resolved."
    return (
        "You analyse the transcript of a phone call between a caller and an AI phone agent.\n"
        "Reply with one JSON object with exactly these keys:\n"
        '"summary": a short summary (at most 3 sentences),\n'
        '"sentiment": the caller\'s overall sentiment, one of "positive", "neutral", "negative",\n'
        '"sentiment_reason": one line explaining the sentiment,\n'
        '"data": an object with one key per field below; use null when the call does not say.\n'
        "Dates as YYYY-MM-DD, booleans as true/false, numbers as JSON numbers, phone numbers in E.164.\n\n"
        f"Summary focus: {focus}\n\nFields:\n{field_lines(config.extraction_fields)}"
    )


class OpenAIAnalyzer(Analyzer):
    """One JSON-mode chat completion per call; HTTP and SDK failures become ProviderErrors (Celery retries)."""

    name = "openai"

    def __init__(self, config: CallConfig) -> None:
        self.config = config

    def analyze(self, transcript: list[Message]) -> AnalysisResult:
        client = create_client(openai.OpenAI, timeout=TIMEOUT_SECONDS, max_retries=0)  # Celery retries with backoff
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": analysis_prompt(self.config)},
            {"role": "user", "content": f"Transcript:\n{transcript_text(transcript) or '(nobody spoke)'}"},
        ]
        try:
            response = client.chat.completions.create(
                model=self.config.llm_model, messages=messages, response_format={"type": "json_object"}, temperature=0
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
