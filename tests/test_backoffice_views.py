"""The back-office tells the truth (issue 18): call states in words, the live page's state from the server,
readable events, links between calls, filters on endings and extracted fields, full-text search on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone

from calls.models import Call, CallEvent
from calls.ui.display import call_state, duration_ms, duration_s
from calls.ui.timeline import event_label
from tests.call_factories import add_event, dental_agent, make_call, make_user, three_calls
from tests.test_live_page import close_thread_connections, session_cookie  # noqa: F401
from voiceproject.asgi import application


@pytest.fixture
def operator(client):
    client.force_login(make_user("operator", permitted=True, hangup=True))
    return client


def ids(response) -> list[str]:
    return [call.call_uuid for call in response.context["calls"]]


def test_one_unit_rule_for_durations():
    assert [duration_ms(v) for v in (850, 9999.5, 10_265, 75_000, None, True)] == [
        "850 ms", "9999.5 ms", "10 s", "1 min 15 s", "—", "—",
    ]  # fmt: skip
    assert [duration_s(v) for v in (7, 16, 60, 3725, 0.25)] == ["7 s", "16 s", "1 min", "1 h 2 min", "250 ms"]


@pytest.mark.django_db
def test_events_read_as_sentences_not_json():
    call = make_call(dental_agent())
    labels = [
        event_label(add_event(call, kind, data, 1.0))
        for kind, data in [
            ("hangup", {"reason": "agent ended the call", "result": "hung-up"}),
            ("hangup", {"reason": "operator", "result": "failed: HTTP 500"}),
            ("dtmf-sent", {"digits": "12#"}),
            ("resume", {"sequence": 4, "from_byte": 3200}),
            ("machine-detection", {"Machine": "true"}),
            ("mystery", {"a": 1, "b": "x"}),
        ]
    ]
    assert labels == [
        "The agent hung up (agent ended the call)",
        "The agent hung up (an operator hung up); Plivo's hang-up request failed: HTTP 500",
        "The agent pressed 12# on the keypad",
        "The agent went on where it was paused",
        "Machine detection: true",
        "Mystery: a = 1, b = x",
    ]


@pytest.mark.django_db
def test_detail_says_the_stream_ended_and_links_agent_number_and_neighbours(operator):
    booked, cold, hours = three_calls()
    Call.objects.filter(pk=cold.pk).update(
        status=Call.Status.IN_PROGRESS, ended_at=None, stream_ended_at=timezone.now() - timedelta(minutes=2)
    )
    html = operator.get(f"/calls/{cold.pk}/").content.decode()
    assert '<span class="state awaiting-hangup">stream ended, waiting for Plivo&#x27;s hang-up</span>' in html
    assert "waiting for Plivo&#x27;s hang-up callback. If it never comes, the sweeper closes the call at" in html
    assert f'<a id="previous-call" href="/calls/{booked.pk}/"' in html
    assert f'<a id="next-call" href="/calls/{hours.pk}/"' in html
    assert f'<a id="agent-link" href="/calls/?agent={cold.agent_id}"' in html
    assert "<dt>Analysis</dt><dd>after the call ends</dd>" in html
    assert '<time datetime="2025-03-06T10:00:00+00:00" data-local="long">2025-03-06 10:00:00 UTC</time>' in html
    listing = operator.get("/calls/").content.decode()
    assert '<span class="state awaiting-hangup" title="The audio stream ended;' in listing


@pytest.mark.django_db
def test_detail_labels_the_offline_summary(operator, settings):
    settings.OPENAI_API_KEY = ""
    call = make_call(dental_agent(), summary="I'd like a cleaning. Tuesday works.")
    html = operator.get(f"/calls/{call.pk}/").content.decode()
    assert '<p class="muted small" id="summary-kind">Offline summary: the caller\'s own sentences' in html
    settings.OPENAI_API_KEY = "sk-test"
    assert 'id="summary-kind"' not in operator.get(f"/calls/{call.pk}/").content.decode()


@pytest.mark.django_db
def test_live_page_of_an_ended_call_is_ended_with_the_button_disabled(operator):
    call = make_call(dental_agent())
    html = operator.get(f"/calls/{call.pk}/live/").content.decode()
    assert '<button type="submit" class="danger" id="hangup" disabled>Hang up</button>' in html
    assert '<span class="state ended" id="call-state-label">ended</span>' in html
    assert 'data-live="0" data-state="ended"' in html
    assert '<p class="ended" id="ended">' in html


@pytest.mark.django_db
def test_a_requested_hangup_disables_the_button_until_the_call_ends(operator):
    call = make_call(dental_agent(), status=Call.Status.IN_PROGRESS, ended_at=None, stream_ended_at=None)
    CallEvent.objects.create(call=call, kind="hangup-requested", data={"by": "operator"})
    html = operator.get(f"/calls/{call.pk}/live/").content.decode()
    assert '<button type="submit" class="danger" id="hangup" disabled>Hang up</button>' in html
    assert "hang-up requested, waiting for the call to end" in html
    assert '<span class="confirm" id="hangup-confirm" hidden role="alertdialog"' in html


@pytest.mark.django_db(transaction=True)
async def test_the_live_socket_sends_missed_events_then_the_state(close_thread_connections):  # noqa: F811
    call = await sync_to_async(make_call)(
        await sync_to_async(dental_agent)(), status=Call.Status.IN_PROGRESS, ended_at=None, stream_ended_at=None
    )
    seen = await sync_to_async(CallEvent.objects.create)(call=call, kind="dtmf", data={"digit": "1"})
    missed = await sync_to_async(CallEvent.objects.create)(call=call, kind="barge-in", data={"reaction_ms": 180})
    await sync_to_async(CallEvent.objects.create)(call=call, kind="stream-status", data={"Event": "x"})
    session = await sync_to_async(session_cookie)(await sync_to_async(make_user)("operator", permitted=True))
    headers = [(b"origin", b"http://testserver"), (b"cookie", f"sessionid={session}".encode())]
    path = f"/ws/calls/{call.call_uuid}/live/?after=7&state=1&events_after={seen.pk}"
    socket = WebsocketCommunicator(application, path, headers=headers)
    assert (await socket.connect())[0]
    assert await socket.receive_json_from(timeout=1) == {
        "kind": "note",
        "data": {"id": missed.pk, "event": "barge-in", "text": "Caller interrupted the agent (reaction 180 ms)"},
    }
    state = await socket.receive_json_from(timeout=1)
    assert state["kind"] == "state"
    assert {k: state["data"][k] for k in ("live", "state", "label", "status", "ended_at")} == {
        "live": True,
        "state": "live",
        "label": "on the line",
        "status": "in-progress",
        "ended_at": None,
    }
    assert state["data"]["started_at"] == call.stream_started_at.isoformat()
    assert await socket.receive_nothing(timeout=0.1)
    await socket.disconnect()


@pytest.mark.django_db
def test_filter_by_why_calls_ended_and_by_extracted_fields(operator):
    booked, _, hours = three_calls()
    add_event(hours, "hangup", {"reason": "agent ended the call", "result": "hung-up"}, 30)
    Call.objects.filter(pk=booked.pk).update(
        hangup_data={"HangupSource": "Caller"}, extracted_data={"email": "jane@example.com", "contains": "x"}
    )
    Call.objects.filter(pk=hours.pk).update(extracted_data={"email": ""})
    assert ids(operator.get("/calls/?ended=agent")) == ["CA-hours-3"]
    assert ids(operator.get("/calls/?ended=caller")) == ["CA-known-1"]
    assert ids(operator.get("/calls/?ended=not-connected")) == ["CA-pizza-2"]
    assert ids(operator.get("/calls/?field=email")) == ["CA-known-1"]  # an empty value is no value
    assert ids(operator.get("/calls/?field=email&field_value=JANE@")) == ["CA-known-1"]
    assert ids(operator.get("/calls/?field=email&field_value=bob")) == []
    assert ids(operator.get("/calls/?field=contains&field_value=x")) == ["CA-known-1"]  # a key, not a lookup
    bad = operator.get("/calls/?field=email%27)--")
    assert bad.status_code == 200 and "field (Letters, digits and _ only.)" in bad.content.decode()
    number = operator.get("/calls/?number=%2B1%20415%20555%200100%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20")
    assert len(ids(number)) == 3  # a number pasted with spaces is not cut short


@pytest.mark.django_db
def test_the_dashboard_says_why_calls_ended_and_its_cards_filter_the_list(operator):
    from tests.test_dashboard import move_to_recent_days

    _, _, hours = three_calls()
    add_event(hours, "hangup", {"reason": "agent ended the call", "result": "hung-up"}, 30)
    move_to_recent_days()
    html = operator.get("/calls/dashboard/?days=7").content.decode()
    today = timezone.localdate()
    since = (today - timedelta(days=6)).isoformat()
    assert f'<a class="tile" id="tile-calls" href="/calls/?date_from={since}&amp;date_to={today.isoformat()}">' in html
    assert '&amp;ended=agent">the agent hung up (goodbye, silence, time limit…)</a></td><td>1</td>' in html
    assert "never connected (failed, busy, no answer…)</a></td><td>1</td>" in html
    assert "Latency figures count every reply that was measured" in html


@pytest.mark.django_db
def test_full_text_search_on_postgresql_finds_words_in_any_form(operator):
    if connection.vendor != "postgresql":
        pytest.skip("full-text search runs on PostgreSQL (DATABASE_URL=postgres://…); SQLite matches substrings")
    three_calls()
    assert ids(operator.get("/calls/?q=booking")) == ["CA-known-1"]  # "book" and "booked" were said
    assert ids(operator.get("/calls/?q=cleanings")) == ["CA-known-1"]
    assert ids(operator.get("/calls/?q=opened")) == ["CA-hours-3"]  # "When are you open?"
    assert ids(operator.get("/calls/?q=pepperonis")) == ["CA-pizza-2"]
    assert ids(operator.get("/calls/?q=%22large+pepperoni%22")) == ["CA-pizza-2"]  # a phrase
    assert ids(operator.get("/calls/?q=%22pepperoni+large%22")) == []


@pytest.mark.django_db
def test_substring_search_everywhere(operator):
    three_calls()
    assert ids(operator.get("/calls/?q=leani")) == ["CA-known-1"]


@pytest.mark.django_db
def test_state_of_a_call_whose_stream_never_connected():
    call = make_call(dental_agent(), status=Call.Status.FAILED, hangup_cause="stream-never-connected")
    assert call_state(call).note == "Plivo never opened the call's audio stream."


def test_effective_providers_say_what_runs_and_why(settings):
    from streaming.providers.effective import effective

    settings.AZURE_SPEECH_KEY, settings.AZURE_SPEECH_REGION, settings.AZURE_SPEECH_HOST = "k", "westeurope", ""
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "", ""
    result = effective("auto", "openai", "offline", model="gpt-4o-mini", voice="en-US-JennyNeural", prompt="Be kind")
    assert [s.line for s in result.stages] == [
        "STT: Azure Speech speech-to-text — auto: keys configured",
        "LLM: OpenAI-compatible gpt-4o-mini — OPENAI_API_KEY not set: calls fail",
        "TTS: offline eSpeak NG — chosen on this agent",
    ]
    assert result.warnings == [
        "The voice en-US-JennyNeural is ignored: the offline eSpeak NG voice follows the language.",
        "LLM is set to openai but OPENAI_API_KEY not set: its calls will fail. Configure the keys or choose Auto.",
    ]
    settings.AZURE_SPEECH_KEY = ""
    offline = effective("auto", "auto", "auto", model="gpt-4o-mini", prompt="Be kind")
    assert offline.analysis_offline and offline.stages[0].why == "AZURE_SPEECH_KEY not set"
    assert offline.warnings[0].startswith(
        "The offline FAQ engine answers from the FAQ entries only: the system prompt, the model gpt-4o-mini, "
        "temperature and max tokens are ignored."
    )
