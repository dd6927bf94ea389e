"""Dashboard: exact numbers for known calls, and the charts and table that show them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from calls.models import Call
from calls.ui.stats import dashboard
from tests.call_factories import T0, make_user, three_calls

pytestmark = pytest.mark.django_db


def test_numbers_for_known_calls():
    three_calls()
    stats = dashboard(7, today=date(2025, 3, 8))
    assert (stats.since, stats.total_calls, stats.average_duration, stats.interruption_rate) == (
        date(2025, 3, 2),
        3,
        24.5,
        14.3,
    )
    assert stats.per_day == [
        ("2025-03-02", 0),
        ("2025-03-03", 0),
        ("2025-03-04", 1),
        ("2025-03-05", 0),
        ("2025-03-06", 1),
        ("2025-03-07", 0),
        ("2025-03-08", 1),
    ]
    assert stats.by_status == [("completed", 2), ("failed", 1)]
    rows = [(a.name, a.calls, a.agent_turns, a.interruption_rate, a.v2v_p50, a.v2v_p95) for a in stats.agents]
    assert rows == [("Dental desk", 2, 5, 20.0, 750.0, 885.0), ("Pizza line", 1, 2, 0.0, 1200.0, 1200.0)]


def test_period_excludes_older_calls():
    three_calls()
    stats = dashboard(2, today=date(2025, 3, 8))  # 7 and 8 March
    assert (stats.total_calls, stats.by_status, [a.name for a in stats.agents]) == (
        1,
        [("completed", 1)],
        ["Dental desk"],
    )


def test_empty_period():
    stats = dashboard(7, today=date(2025, 3, 8))
    assert (stats.total_calls, stats.average_duration, stats.interruption_rate, stats.agents) == (0, None, None, [])


def move_to_recent_days() -> None:
    """three_calls() happen in March 2025; shift them so they end yesterday."""
    shift = (timezone.now() - timedelta(days=1)) - (T0 + timedelta(days=4))
    for call in Call.objects.all():
        Call.objects.filter(pk=call.pk).update(created_at=call.created_at + shift)


def test_dashboard_page_renders_the_charts_and_table(client):
    three_calls()
    move_to_recent_days()
    client.force_login(make_user("operator", permitted=True))
    response = client.get("/calls/dashboard/?days=7")
    assert response.context["days"] == 7
    html = response.content.decode()
    assert '<span class="value" id="total-calls">3</span>' in html
    assert '<span class="value" id="average-duration">24.5 s</span>' in html
    assert '<span class="value" id="interruption-rate">14.3%</span>' in html
    assert html.count('<svg class="chart"') == 4
    assert "<title>Calls per day</title>" in html
    yesterday = (timezone.localdate() - timedelta(days=1)).strftime("%m-%d")
    assert f"<title>{yesterday}: 1</title>" in html
    assert "<title>completed: 2</title>" in html and "<title>failed: 1</title>" in html
    assert "<title>Dental desk p50: 750 ms</title>" in html and "<title>Dental desk p95: 885 ms</title>" in html
    assert "<title>Pizza line: 0%</title>" in html and "<title>Dental desk: 20%</title>" in html
    assert "<tr>\n      <td>Dental desk</td><td>2</td><td>5</td>\n      <td>20.0%</td>\n      <td>750.0 ms</td>" in html


@pytest.mark.parametrize(("query", "days"), [("", 30), ("?days=90", 90), ("?days=5", 30), ("?days=x", 30)])
def test_period_choice(client, query, days):
    client.force_login(make_user("operator", staff=True))
    assert client.get(f"/calls/dashboard/{query}").context["days"] == days


def test_dashboard_escapes_agent_names(client):
    three_calls()
    move_to_recent_days()
    Agent.objects.filter(name="Pizza line").update(name="<b>Pizza</b>")
    client.force_login(make_user("operator", permitted=True))
    html = client.get("/calls/dashboard/").content.decode()
    assert "<b>Pizza</b>" not in html and "&lt;b&gt;Pizza&lt;/b&gt;" in html
