"""After-call work on one Call: aggregates into ``metrics``, then summary, sentiment and extracted data."""

from __future__ import annotations

from django.utils import timezone

from calls.config import call_config
from calls.field_types import validate_fields
from calls.listen_stats import SpokenTurn, listen_summary
from calls.metrics import TurnFacts, call_aggregates
from calls.models import Call, Turn
from streaming.providers.base import AnalysisResult, Message
from streaming.providers.registry import create_analyzer
from streaming.providers.sentiment import label as sentiment_label
from streaming.providers.sentiment import vader_score


def add_note_once(call: Call, note: str) -> None:
    """Append an error note unless it is already there (re-runs stay idempotent)."""
    if note not in call.error_notes.splitlines():
        call.add_error_note(note)


def turn_facts(call: Call) -> list[TurnFacts]:
    return [
        TurnFacts(t.role, t.start_ms, t.end_ms, t.interrupted, t.latency)
        for t in call.turns.order_by("sequence").only("role", "start_ms", "end_ms", "interrupted", "latency")
    ]


def update_metrics(call: Call) -> dict:
    """Recompute the aggregates from the stored turns and merge them into ``call.metrics``."""
    aggregates = call_aggregates(
        turn_facts(call),
        engine_metrics=call.metrics,
        plivo_duration=call.duration_seconds,
        started=call.answered_at or call.stream_started_at,
        ended=call.ended_at or call.stream_ended_at,
    )
    metrics = {**call.metrics, **aggregates}
    if call.mode == "listen":
        metrics["listen"] = listen_metrics(call)
    if metrics != call.metrics:
        call.metrics = metrics
        call.save(update_fields=["metrics"])
    return metrics


def heard(turn: Turn) -> str:
    """What the caller actually heard of a turn: the heard prefix of an interrupted agent turn."""
    return turn.heard_text if turn.role == Turn.Role.AGENT and turn.interrupted else turn.text


def transcript_messages(call: Call) -> list[Message]:
    """The conversation as the analyzer sees it: caller and agent turns, agent turns as heard."""
    turns = call.turns.filter(role__in=[Turn.Role.CALLER, Turn.Role.AGENT, Turn.Role.PERSON]).order_by("sequence")
    # listen mode: the person who answered is the analyzer's "agent" side of the conversation
    return [Message("agent" if t.role == Turn.Role.PERSON else t.role, heard(t)) for t in turns if heard(t).strip()]


def listen_metrics(call: Call) -> dict:
    """A listen-mode call's aggregates (calls.listen_stats) from its turns; each utterance's live sentiment, or
    the offline score for one the live call did not score."""
    turns = [
        SpokenTurn(t.sequence, t.role, t.text, t.start_ms, t.end_ms)
        for t in call.turns.filter(role__in=[Turn.Role.CALLER, Turn.Role.PERSON], start_ms__isnull=False)
        .exclude(end_ms__isnull=True)
        .order_by("sequence")
        .only("sequence", "role", "text", "start_ms", "end_ms")
    ]
    live = call.metrics.get("listen_sentiment") or {}
    scores = {t.sequence: float(live.get(str(t.sequence), vader_score(t.text))) for t in turns}
    return listen_summary(turns, scores, sentiment_label)


def needs_analysis(call: Call) -> bool:
    return call.analysis_status != Call.Analysis.DONE


def analyse(call: Call) -> None:
    """Run the agent's analyzer (from the provider registry) and store its validated result. ProviderError
    propagates to the task."""
    messages = transcript_messages(call)
    if not messages:  # nothing was said (no agent, unanswered): nothing to ask a model about
        store_result(call, AnalysisResult(summary="", sentiment="", sentiment_reason="", data={}))
        return
    analyzer = create_analyzer(call_config(call.agent_snapshot))
    store_result(call, analyzer.analyze(messages))


def store_result(call: Call, result: AnalysisResult) -> None:
    fields = (call.agent_snapshot or {}).get("extraction_fields", [])
    data, notes = validate_fields(fields, result.data)
    for note in notes:
        add_note_once(call, note)
    call.summary = result.summary
    call.sentiment = result.sentiment
    call.sentiment_reason = result.sentiment_reason[:300]
    call.extracted_data = data
    call.analysis_status = Call.Analysis.DONE
    call.save(
        update_fields=["summary", "sentiment", "sentiment_reason", "extracted_data", "analysis_status", "error_notes"]
    )


def mark_failed(call: Call, note: str) -> None:
    add_note_once(call, note)
    call.analysis_status = Call.Analysis.FAILED
    call.save(update_fields=["analysis_status", "error_notes"])


def mark_finalized(call: Call) -> None:
    if call.finalized_at is None:
        call.finalized_at = timezone.now()
        call.save(update_fields=["finalized_at"])
