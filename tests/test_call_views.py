"""The call browser: login and permission on every page, list filters and search, detail rendering."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import Call, CallEvent
from tests.call_factories import add_event, dental_agent, make_call, make_user, store_recording, three_calls, wav_bytes

pytestmark = pytest.mark.django_db


def page_urls(call: Call) -> list[str]:
    return [
        reverse("call-list"),
        reverse("call-export-csv"),
        reverse("call-dashboard"),
        reverse("call-detail", args=[call.pk]),
        reverse("call-export-text", args=[call.pk]),
        reverse("call-export-json", args=[call.pk]),
        reverse("call-recording", args=[call.pk]),
        reverse("call-live", args=[call.pk]),
    ]


@pytest.fixture
def call() -> Call:
    call = make_call(dental_agent())
    store_recording(call, wav_bytes(0.1))
    return call


def ids(response) -> list[str]:
    return [c.call_uuid for c in response.context["calls"]]


def test_anonymous_users_are_sent_to_the_login_page(client, call):
    for url in page_urls(call):
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, f"/calls/login/?next={url}"), url
    response = client.post(reverse("call-hangup", args=[call.pk]))
    assert response["Location"] == f"/calls/login/?next=/calls/{call.pk}/hangup/"


def test_users_without_the_permission_get_403(client, call):
    client.force_login(make_user("visitor"))
    for url in page_urls(call):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("call-hangup", args=[call.pk])).status_code == 403


@pytest.mark.parametrize("kind", ["permitted", "staff"])
def test_permitted_users_and_staff_see_every_page(client, call, kind):
    client.force_login(make_user("operator", permitted=kind == "permitted", staff=kind == "staff"))
    for url in page_urls(call):
        assert client.get(url).status_code == 200, url


def live_call() -> Call:
    return make_call(dental_agent(), status=Call.Status.IN_PROGRESS, ended_at=None, stream_ended_at=None)


@pytest.mark.parametrize("kind", ["permitted", "staff"])
def test_viewers_without_the_hangup_permission_see_no_button_and_cannot_hang_up(client, kind):
    call = live_call()
    client.force_login(make_user("viewer", permitted=kind == "permitted", staff=kind == "staff"))
    page = client.get(reverse("call-live", args=[call.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and '<div id="live" data-ws-path="/ws/calls/CA-known-1/live/">' in html
    assert 'id="hangup"' not in html and "/hangup/" not in html
    response = client.post(reverse("call-hangup", args=[call.pk]))
    assert response.status_code == 403
    assert CallEvent.objects.count() == 0


def test_the_hangup_permission_shows_the_button_and_hangs_up(client):
    call = live_call()
    client.force_login(make_user("operator", permitted=True, hangup=True))
    html = client.get(reverse("call-live", args=[call.pk])).content.decode()
    assert f'<form method="post" action="/calls/{call.pk}/hangup/" class="actions">' in html
    assert '<button type="submit" class="danger" id="hangup">Hang up</button>' in html
    response = client.post(reverse("call-hangup", args=[call.pk]))
    assert (response.status_code, response["Location"]) == (302, f"/calls/{call.pk}/live/")
    assert list(CallEvent.objects.values_list("kind", "data")) == [("hangup-requested", {"by": "operator"})]


def test_login_page_logs_a_permitted_user_in_and_returns_to_the_page(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_user("operator", permitted=True, password="pw-123456")
    page = client.get("/calls/login/?next=/calls/dashboard/")
    assert page.status_code == 200
    response = client.post(
        "/calls/login/", {"username": "operator", "password": "pw-123456", "next": "/calls/dashboard/"}
    )
    assert (response.status_code, response["Location"]) == (302, "/calls/dashboard/")


@pytest.fixture
def operator(client):
    client.force_login(make_user("operator", permitted=True))
    return client


def test_list_is_newest_first_with_the_columns(operator):
    three_calls()
    response = operator.get("/calls/")
    assert ids(response) == ["CA-hours-3", "CA-pizza-2", "CA-known-1"]
    html = response.content.decode()
    assert '<td class="nowrap">+14155550100 → +14155550222</td>' in html
    assert '<td class="summary">Booked a cleaning for Tuesday.</td>' in html
    assert "<td>1200.0 ms</td>" in html
    assert "<td>7 s</td>" in html
    assert '<p class="muted" id="result-count">3 calls</p>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("direction=outbound", ["CA-pizza-2"]),
        ("status=completed", ["CA-hours-3", "CA-known-1"]),
        ("sentiment=negative", ["CA-pizza-2"]),
        ("interrupted=yes", ["CA-known-1"]),
        ("interrupted=no", ["CA-hours-3", "CA-pizza-2"]),
        ("number=555-0333", ["CA-hours-3"]),
        ("number=%2B14155550222", ["CA-pizza-2"]),
        ("date_from=2025-03-05&date_to=2025-03-07", ["CA-pizza-2"]),
        ("date_from=2025-03-08", ["CA-hours-3"]),
        ("q=pepperoni", ["CA-pizza-2"]),
        ("q=OPENING+HOURS", ["CA-hours-3"]),
        ("q=tuesday", ["CA-known-1"]),
        ("q=nothing+like+this", []),
        ("status=completed&q=open", ["CA-hours-3"]),
    ],
)
def test_filters_and_search(operator, query, expected):
    three_calls()
    assert ids(operator.get(f"/calls/?{query}")) == expected


def test_agent_filter_and_invalid_filters_are_reported_not_fatal(operator):
    _, cold, _ = three_calls()
    assert ids(operator.get(f"/calls/?agent={cold.agent_id}")) == ["CA-pizza-2"]
    response = operator.get("/calls/?date_from=yesterday&sentiment=negative")
    assert ids(response) == ["CA-pizza-2"]
    assert "Some filters were ignored: date_from (Enter a valid date.)" in response.content.decode()


def test_pagination_keeps_the_filters(operator):
    agent = dental_agent()
    for n in range(27):
        make_call(agent, turns=[], call_uuid=f"CA-{n:02d}", direction="outbound")
    first = operator.get("/calls/?direction=outbound")
    assert (len(ids(first)), ids(first)[0]) == (25, "CA-26")
    assert '<a href="?direction=outbound&amp;page=2">Older →</a>' in first.content.decode()
    second = operator.get("/calls/?direction=outbound&page=2")
    assert ids(second) == ["CA-01", "CA-00"]


def test_detail_shows_heard_and_unheard_parts_of_an_interrupted_turn(operator, call):
    html = operator.get(f"/calls/{call.pk}/").content.decode()
    assert (
        '<div class="bubble"><span class="heard">Sure, we have Tuesday at 10</span>'
        '<span class="unheard" title="Not heard: the caller interrupted"> or Thursday at 2.</span></div>'
    ) in html
    assert '<li class="turn agent interrupted" data-seq="3" data-start-ms="7300" data-end-ms="9000">' in html
    assert '<div class="bubble">Great, you&#x27;re booked for Tuesday at 10.</div>' in html


def test_detail_escapes_what_the_caller_said(operator):
    evil = make_call(
        dental_agent(),
        turns=[("caller", "<script>alert('x')</script> & <b>bold</b>", 0, 900, False, "", {})],
        summary="<img src=x onerror=alert(1)>",
    )
    html = operator.get(f"/calls/{evil.pk}/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert '<p id="summary">&lt;img src=x onerror=alert(1)&gt;</p>' in html


def test_detail_shows_events_inline_in_time_order(operator, call):
    add_event(call, "dtmf", {"digit": "5"}, 8.5)
    add_event(call, "tool", {"name": "transfer_call", "arguments": {"reason": "<human>"}}, 13.0)
    add_event(call, "error", {"provider": "azure", "message": "timeout", "permanent": False}, 16.2)
    add_event(call, "stream-status", {"Event": "StartStream"}, 0.1)
    html = operator.get(f"/calls/{call.pk}/").content.decode()
    dtmf = '<li class="event dtmf"><span class="time">00:08.5</span> Keypad: 5</li>'
    tool = (
        '<li class="event tool"><span class="time">00:13.0</span> Tool call '
        "transfer_call({&quot;reason&quot;: &quot;&lt;human&gt;&quot;})</li>"
    )
    error = '<li class="event error"><span class="time">00:16.2</span> Error from azure: timeout</li>'
    assert html.index('data-seq="3"') < html.index(dtmf) < html.index('data-seq="4"')
    assert html.index('data-seq="5"') < html.index(tool) < html.index('data-seq="6"') < html.index(error)
    assert "StartStream" not in html.split('id="transcript"')[1].split("</ol>")[0]


def test_detail_shows_analysis_waterfall_recording_and_config(operator, call):
    Call.objects.filter(pk=call.pk).update(
        summary="Jane booked a cleaning.",
        sentiment="positive",
        sentiment_reason="Thanked the agent.",
        extracted_data={"email": "jane@example.com", "visits": 2, "appointment": None, "callback": None},
        metrics={"v2v_p50_ms": 800.0, "interruptions": 1},
    )
    html = operator.get(f"/calls/{call.pk}/").content.decode()
    assert '<span class="sentiment positive">Positive</span> Thanked the agent.' in html
    assert '<tr><th>email</th><td class="muted small">email</td><td>jane@example.com</td></tr>' in html
    assert '<tr><th>visits</th><td class="muted small">integer</td><td>2</td></tr>' in html
    assert '<tr><th>appointment</th><td class="muted small">date</td><td>—</td></tr>' in html
    assert "<tr><th>Voice-to-voice p50</th><td>800.0 ms</td></tr>" in html
    assert f'<audio id="recording" controls preload="metadata" src="/calls/{call.pk}/recording.wav"></audio>' in html
    assert "<title>LLM: 420 ms</title>" in html and "<title>send: 50 ms</title>" in html
    assert ">800 ms</text>" in html
    assert "&quot;summary_instructions&quot;: &quot;Focus on the booking.&quot;" in html
    assert f"(version {call.agent_version})" in html


def test_detail_without_recording_has_no_player(operator):
    call = make_call(dental_agent(), recording_path="missing.wav")
    html = operator.get(f"/calls/{call.pk}/").content.decode()
    assert "<audio" not in html and "No recording for this call." in html


def test_unknown_call_is_404(operator):
    assert operator.get("/calls/999/").status_code == 404
