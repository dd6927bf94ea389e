"""Scenarios without a server: script and expectation validation and judging, the admin's JSON editor, the replay
pages (form, comparison, save as scenario) and the call-answer rule for prepared scenario calls."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import Call
from calls.scenario_models import Scenario, ScenarioRun
from calls.scenarios import expectations, replay, script
from calls.scenarios.expectations import Outcome
from tests.call_factories import make_call, make_user
from tests.factories import make_agent

OUTCOME = Outcome(
    agent_text=["Hello! How can I help?", "We are open from nine to six."],
    tool_calls=[{"name": "order_status", "arguments": {"order_id": "1234", "lang": "en"}}],
    endings={"hangup"},
    extracted={"order_id": "1234"},
    voice_to_voice_ms=[700.0, 900.0, 1600.0],
)


def test_judge_each_kind_with_its_reason() -> None:
    items = [
        {"must_say": "NINE to six"},
        {"must_say": "/open (from|at) \\w+/"},
        {"must_not_say": "sorry"},
        {"must_not_say": "/hello/"},
        {"tool": "order_status", "args": {"order_id": 1234}},
        {"tool": "order_status", "args": {"order_id": "9"}},
        {"tool": "refund"},
        {"ends": "hangup"},
        {"ends": "transfer"},
        {"field": "order_id", "equals": "1234"},
        {"field": "email", "equals": "x"},
        {"latency_p95_ms": 1500},
    ]
    assert [(r["expectation"], r["passed"], r["detail"]) for r in expectations.judge(items, OUTCOME)] == [
        ('must_say "NINE to six"', True, 'said "NINE to six"'),
        ('must_say "/open (from|at) \\w+/"', True, 'said "open from nine"'),
        ('must_not_say "sorry"', True, "not said"),
        ('must_not_say "/hello/"', False, 'the agent said "Hello"'),
        ("tool order_status with {'order_id': 1234}", True, "called with {'order_id': '1234', 'lang': 'en'}"),
        ("tool order_status with {'order_id': '9'}", False, "called, but with [{'order_id': '1234', 'lang': 'en'}]"),
        ("tool refund", False, "not called (called: order_status)"),
        ("ends hangup", True, "ended with hangup"),
        ("ends transfer", False, "no transfer (the call ended with hangup)"),
        ("field order_id = '1234'", True, "extracted '1234'"),
        ("field email = 'x'", False, "not extracted (extracted: ['order_id'])"),
        ("latency p95 < 1500 ms", False, "p95 1600 ms over 3 replies"),
    ]


def test_validation_names_every_bad_item() -> None:
    assert expectations.validate([{"must_say": "/(/"}, {"ends": "fax"}, {"nope": 1}, {"latency_p95_ms": -1}]) == [
        "Expectation 1 (must_say): is not a valid regular expression (missing ), unterminated subpattern at "
        "position 0).",
        "Expectation 2 (ends): one of hangup, transfer, voicemail, not 'fax'.",
        "Expectation 3: an object with one of must_say, must_not_say, tool, ends, field, latency_p95_ms.",
        "Expectation 4 (latency_p95_ms): a positive number of milliseconds.",
    ]
    assert script.validate(
        [{"say": ""}, {"dtmf": "12x"}, {"say": "hi", "barge_in_ms": "soon"}, {"wav": "/no.wav"}]
    ) == [
        "Step 1: say needs some text.",
        "Step 2: DTMF digits are 0-9 * # A-D, got '12x'.",
        "Step 3: barge_in_ms is a whole number of milliseconds, 0 to 30000.",
        "Step 4: no such WAV file: '/no.wav'.",
    ]
    plan = script.plan([{"say": "a"}, {"wait_ms": 2000}, {"say": "b", "barge_in_ms": 700}, {"dtmf": "1#"}], 600)
    assert [(s.text, s.dtmf, s.silence_ms) for s in plan.turns] == [
        ("a", None, None),
        ("b", None, 2600),
        (None, "1#", None),
    ]
    assert (plan.barging, plan.barge_in_ms) == ({1}, 700)


@pytest.mark.django_db
def test_admin_editor_refuses_bad_json_with_clear_errors(client) -> None:
    agent = make_agent()
    client.force_login(_superuser())
    url = reverse("admin:calls_scenario_add")
    form = {"agent": agent.pk, "name": "hours", "max_turns": 6, "caller_persona": "", "caller_goal": ""}
    form |= {"runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0"}  # the runs inline (read-only)
    response = client.post(url, form | {"script": '[{"say": ""}]', "expectations": '[{"ends": "fax"}]'})
    assert response.status_code == 200
    assert "Step 1: say needs some text." in response.content.decode()
    assert "Expectation 1 (ends): one of hangup, transfer, voicemail, not &#x27;fax&#x27;." in response.content.decode()
    response = client.post(url, form | {"script": "[{say: 1}]", "expectations": "[]"})
    assert "Enter a valid JSON." in response.content.decode()
    assert not Scenario.objects.exists()
    client.post(url, form | {"script": '[{"say": "What are your hours?"}]', "expectations": '[{"must_say": "nine"}]'})
    assert list(Scenario.objects.values_list("name", "script", "expectations")) == [
        ("hours", [{"say": "What are your hours?"}], [{"must_say": "nine"}])
    ]


def _superuser():
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", password=None)


@pytest.mark.django_db
def test_replay_pages_and_save_as_scenario(client) -> None:
    agent = make_agent()
    call = make_call(agent)
    client.force_login(_superuser())
    detail = client.get(reverse("call-detail", args=[call.pk])).content.decode()
    assert f'href="{reverse("call-replay", args=[call.pk])}"' in detail
    page = client.get(reverse("call-replay", args=[call.pk])).content.decode()
    assert "their 3 transcribed turns re-spoken" in page and '<option value="draft">' not in page
    response = client.post(reverse("call-replay", args=[call.pk]), {"action": "save", "name": "booking", "hints": "1"})
    scenario = Scenario.objects.get(name="booking")
    assert response.status_code == 302
    callers = call.turns.filter(role="caller").order_by("sequence").values_list("text", flat=True)
    assert scenario.script == [{"say": text} for text in callers] and len(scenario.script) == 3
    assert {"must_say": "Sure, we have Tuesday at 10 or Thursday at 2."} in scenario.expectations
    again = client.post(reverse("call-replay", args=[call.pk]), {"action": "save", "name": "booking"}, follow=True)
    assert "already has a scenario named “booking”" in again.content.decode()
    original = [{"role": "agent", "text": "Hi there."}, {"role": "caller", "text": "Hours?"},
                {"role": "agent", "text": "Nine to five.", "latency": {"voice_to_voice_ms": 800}}]  # fmt: skip
    new = [{"role": "agent", "text": "Hi there."}, {"role": "caller", "text": "hours"},
           {"role": "agent", "text": "Ten to five.", "latency": {"voice_to_voice_ms": 650}}]  # fmt: skip
    rows = replay.compare(original, new)
    assert [(r["same"], r["latency_original_ms"], r["latency_new_ms"]) for r in rows] == [
        (True, None, None),
        (False, 800, 650),
    ]
    assert rows[1]["diff"] == [["removed", "Nine"], ["added", "Ten"], ["same", "to five."]]
    run = ScenarioRun.objects.create(kind="replay", agent=agent, source_call=call, status="failed", results=rows)
    shown = client.get(reverse("call-replay-run", args=[run.pk])).content.decode()
    assert "1 answer changed" in shown
    assert "<del>Nine</del> <ins>Ten</ins> to five." in shown


@pytest.mark.django_db
def test_viewers_may_look_but_not_replay(client) -> None:
    call = make_call(make_agent())
    client.force_login(make_user("viewer", permitted=True))
    assert client.get(reverse("call-replay", args=[call.pk])).status_code == 200
    assert client.post(reverse("call-replay", args=[call.pk]), {"against": "published"}).status_code == 403
    assert not ScenarioRun.objects.exists()


@pytest.mark.django_db
def test_a_prepared_scenario_call_is_answered_without_a_number(client, settings) -> None:
    settings.PLIVO_AUTH_TOKEN = ""
    settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS = True
    from calls.scenarios.prepared import prepare_call

    agent = make_agent(number=None, enabled=False)
    call = prepare_call(agent, {**agent.snapshot(), "greeting": "Draft hello"}, 7)
    params = {"CallUUID": call.call_uuid, "From": "15550100999", "To": "15550100000", "CallStatus": "ringing"}
    response = client.post(reverse("plivo-answer"), params)
    assert response.status_code == 200 and b"<Stream" in response.content
    call.refresh_from_db()
    assert (call.status, call.agent_snapshot["greeting"], call.agent_version) == ("in-progress", "Draft hello", 7)
    stranger = client.post(reverse("plivo-answer"), {**params, "CallUUID": "scenario-unknown"})
    assert b"not in service" in stranger.content
    assert Call.objects.get(call_uuid="scenario-unknown").status == Call.Status.NO_AGENT


@pytest.mark.django_db
def test_run_admin_shows_each_expectation_and_the_transcript(client) -> None:
    agent = make_agent()
    scenario = Scenario.objects.create(agent=agent, name="hours", script=[{"say": "Hours?"}], expectations=[])
    results = [
        {"expectation": 'must_say "nine"', "kind": "must_say", "passed": False, "detail": "the agent never said it"}
    ]
    transcript = [{"role": "agent", "text": "We open at ten.", "latency": {"voice_to_voice_ms": 812.5}}]
    run = ScenarioRun.objects.create(
        scenario=scenario, agent=agent, status="failed", results=results, transcript=transcript
    )
    client.force_login(_superuser())
    page = client.get(reverse("admin:calls_scenariorun_change", args=[run.pk])).content.decode()
    assert "<td>❌ failed</td><td>must_say &quot;nine&quot;</td><td>the agent never said it</td>" in page
    assert "<td>agent</td><td>We open at ten.</td><td>812.5</td>" in page
    listing = client.get(reverse("admin:calls_scenario_changelist")).content.decode()
    assert "❌ failed" in listing


@pytest.mark.django_db
def test_run_now_from_the_admin_stores_the_run_and_reports_it(client, settings) -> None:
    """Eager Celery (development): the action queues the run by task name and it has finished when the page
    answers. The test client's server is not reachable, so the run is an error that says why (never a 500)."""
    agent = make_agent()
    scenario = Scenario.objects.create(agent=agent, name="hours", script=[{"say": "What are your hours?"}])
    client.force_login(_superuser())
    response = client.post(
        reverse("admin:calls_scenario_changelist"),
        {"action": "run_now", "_selected_action": [scenario.pk]},
        follow=True,
        SERVER_NAME="127.0.0.1",
        SERVER_PORT="9",  # discard: nothing listens there
    )
    assert response.status_code == 200
    run = ScenarioRun.objects.get()
    assert (run.scenario, run.status, run.draft, run.call.call_uuid.startswith("scenario-")) == (
        scenario,
        "error",
        False,
        True,
    )
    assert run.error.startswith("The simulated call failed:")
    assert "Ran 1 scenario(s): 1 error. See the runs below." in response.content.decode()
