"""finalize_call: aggregates, analysis through the OpenAI fake and offline, idempotence, retries, sweeper, admin."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from calls.models import Call
from calls.tasks import ORPHAN_CAUSE, backoff, finalize_call, sweep_orphaned_calls
from tests.call_factories import dental_agent, make_call, make_user
from tests.fakes.openai_server import ChatScript
from tests.test_call_metrics import KNOWN_AGGREGATES

pytestmark = pytest.mark.django_db

MODEL_REPLY = {
    "summary": "Jane booked a cleaning for Tuesday at 10.",
    "sentiment": "positive",
    "sentiment_reason": "The caller thanked the agent.",
    "data": {
        "email": "jane@example.com",
        "visits": "three",
        "appointment": "2025-03-11",
        "callback": "+1 (415) 555-0111",
    },
}
TRANSCRIPT_PROMPT = (
    "Transcript:\n"
    "Agent: Hello, this is Acme Dental. How can I help?\n"
    "Caller: Hi, I'd like to book a cleaning for next week.\n"
    "Agent: Sure, we have Tuesday at 10\n"
    "Caller: Tuesday works. My email is jane@example.com\n"
    "Agent: Great, you're booked for Tuesday at 10.\n"
    "Caller: Thanks, that's perfect.\n"
    "Agent: You're welcome. Goodbye!"
)
OFFLINE_SUMMARY = (
    "Caller: Hi, I'd like to book a cleaning for next week. Agent: Sure, we have Tuesday at 10 "
    "Great, you're booked for Tuesday at 10. You're welcome. Goodbye!"
)


def reply(payload: dict) -> ChatScript:
    return ChatScript(content=json.dumps(payload))


def finalized(call: Call) -> Call:
    finalize_call.delay(call.pk)
    call.refresh_from_db()
    return call


def state(call: Call) -> dict:
    call.refresh_from_db()
    return {**model_to_dict(call), "turns": call.turns.count(), "events": call.events.count()}


def test_openai_analysis_request_and_stored_result(openai_fake):
    openai_fake.script(reply(MODEL_REPLY))
    call = finalized(make_call(dental_agent()))

    [request] = openai_fake.requests
    assert (request.method, request.path, request.headers["authorization"]) == (
        "POST",
        "/v1/chat/completions",
        "Bearer sk-test",
    )
    body = request.body
    assert (body["model"], body["response_format"], body["temperature"]) == ("gpt-4o-mini", {"type": "json_object"}, 0)
    system, user = body["messages"]
    assert system["role"] == "system"
    assert "Summary focus: Focus on the booking." in system["content"]
    assert (
        "- visits (integer): the caller's visits\n- appointment (date): the caller's appointment" in system["content"]
    )
    assert user == {"role": "user", "content": TRANSCRIPT_PROMPT}

    assert (call.summary, call.sentiment, call.sentiment_reason) == (
        "Jane booked a cleaning for Tuesday at 10.",
        "positive",
        "The caller thanked the agent.",
    )
    assert call.extracted_data == {
        "email": "jane@example.com",
        "visits": None,
        "appointment": "2025-03-11",
        "callback": "+14155550111",
    }
    assert call.error_notes == "Extraction: dropped visits = 'three' (integer): is not a whole number."
    assert call.analysis_status == "done"
    assert call.metrics == KNOWN_AGGREGATES
    assert call.finalized_at is not None


def test_offline_analysis_makes_an_extractive_summary_and_fills_what_it_can():
    call = finalized(make_call(dental_agent()))
    assert call.summary == OFFLINE_SUMMARY
    assert (call.sentiment, call.sentiment_reason) == ("positive", "The caller used positive words: perfect, thanks.")
    assert call.extracted_data == {"email": "jane@example.com", "visits": None, "appointment": None, "callback": None}
    assert (call.analysis_status, call.error_notes) == ("done", "")


def test_agent_forced_offline_does_not_call_the_configured_model(openai_fake):
    call = finalized(make_call(dental_agent(llm_provider="offline")))
    assert (openai_fake.requests, call.summary) == ([], OFFLINE_SUMMARY)


def test_running_twice_changes_nothing(openai_fake):
    openai_fake.script(reply(MODEL_REPLY), reply({**MODEL_REPLY, "summary": "A different summary."}))
    call = finalized(make_call(dental_agent()))
    before = state(call)
    finalize_call.delay(call.pk)
    assert state(call) == before
    assert len(openai_fake.requests) == 1


def test_transient_model_error_is_retried(openai_fake):
    openai_fake.script(ChatScript(status=503), reply(MODEL_REPLY))
    call = finalized(make_call(dental_agent()))
    assert (len(openai_fake.requests), call.analysis_status, call.summary) == (
        2,
        "done",
        "Jane booked a cleaning for Tuesday at 10.",
    )


def test_permanent_model_error_fails_at_once_and_is_recorded(openai_fake):
    openai_fake.script(ChatScript(status=401))
    call = finalized(make_call(dental_agent()))
    assert len(openai_fake.requests) == 1
    assert (call.analysis_status, call.error_notes, call.summary) == (
        "failed",
        "Analysis failed (openai): HTTP 401",
        "",
    )
    assert call.finalized_at is not None
    assert call.metrics == KNOWN_AGGREGATES


def test_retries_are_bounded_and_the_failure_recorded_once(openai_fake):
    openai_fake.script(*[ChatScript(status=500)] * 6)
    call = finalized(make_call(dental_agent()))
    assert len(openai_fake.requests) == 6  # the first attempt and max_retries=5
    assert (call.analysis_status, call.error_notes) == ("failed", "Analysis failed (openai): HTTP 500")


def test_model_reply_that_is_not_json_is_a_provider_error(openai_fake):
    openai_fake.script(*[ChatScript(content="Sure! Here is the summary.")] * 6)
    call = finalized(make_call(dental_agent()))
    assert (call.analysis_status, call.error_notes) == (
        "failed",
        "Analysis failed (openai): analysis reply is not JSON",
    )


def test_call_without_conversation_is_finalized_without_a_model(openai_fake):
    call = finalized(make_call(None, turns=[], status=Call.Status.NO_AGENT, metrics={}))
    assert openai_fake.requests == []
    assert (call.analysis_status, call.summary, call.extracted_data) == ("done", "", {})


def test_backoff_is_exponential_and_capped():
    assert [backoff(n, 15) for n in range(7)] == [15, 30, 60, 120, 240, 480, 600]


def test_sweeper_finalizes_orphaned_calls(django_capture_on_commit_callbacks):
    agent = dental_agent()
    now = timezone.now()
    orphan = make_call(
        agent,
        call_uuid="CA-orphan",
        status=Call.Status.IN_PROGRESS,
        ended_at=None,
        duration_seconds=None,
        hangup_cause="",
        answered_at=now - timedelta(minutes=20),
        stream_started_at=now - timedelta(minutes=20),
        stream_ended_at=now - timedelta(minutes=15),
    )
    recent = make_call(
        agent,
        call_uuid="CA-recent",
        status=Call.Status.IN_PROGRESS,
        ended_at=None,
        stream_ended_at=now - timedelta(minutes=2),
    )
    stuck = make_call(agent, call_uuid="CA-stuck", ended_at=now - timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orphaned_calls(minutes=10) == 2
    orphan.refresh_from_db()
    assert (orphan.status, orphan.hangup_cause, orphan.ended_at, orphan.duration_seconds) == (
        "completed",
        ORPHAN_CAUSE,
        orphan.stream_ended_at,
        300,
    )
    assert (orphan.analysis_status, orphan.summary) == ("done", OFFLINE_SUMMARY)
    assert orphan.finalized_at is not None
    stuck.refresh_from_db()
    assert (stuck.analysis_status, stuck.finalized_at is not None) == ("done", True)
    recent.refresh_from_db()
    assert (recent.status, recent.ended_at, recent.analysis_status) == ("in-progress", None, "")
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orphaned_calls(minutes=10) == 0


def test_sweeper_is_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-orphaned-calls"]
    assert (entry["task"], entry["kwargs"]) == ("calls.tasks.sweep_orphaned_calls", {"minutes": 10})
    assert sweep_orphaned_calls.name == entry["task"]


def test_admin_action_reruns_the_analysis(client, django_capture_on_commit_callbacks):
    call = make_call(dental_agent(), summary="Old summary", analysis_status="done", sentiment="negative")
    admin = make_user("boss", staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/calls/call/", {"action": "rerun_analysis", "_selected_action": [call.pk]}, follow=True
        )
    assert "Analysis queued for 1 call(s)." in response.content.decode()
    call.refresh_from_db()
    assert (call.summary, call.sentiment, call.analysis_status) == (OFFLINE_SUMMARY, "positive", "done")
