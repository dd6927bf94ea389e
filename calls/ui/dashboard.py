"""The dashboard: call volume, durations, latency per agent, interruptions, statuses (server-rendered SVG)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from calls.ui.access import calls_viewer_required
from calls.ui.charts import bar_chart, column_chart, grouped_bar_chart
from calls.ui.stats import dashboard as dashboard_stats

PERIODS = (7, 30, 90)


def period(request: HttpRequest) -> int:
    raw = request.GET.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in PERIODS else 30


@calls_viewer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    days = period(request)
    stats = dashboard_stats(days)
    rates = [(a.name, a.interruption_rate) for a in stats.agents if a.interruption_rate is not None]
    charts = {
        "per_day": column_chart([(day[5:], count) for day, count in stats.per_day], "Calls per day"),
        "by_status": bar_chart(stats.by_status, "Calls by status"),
        "latency": grouped_bar_chart(
            [(a.name, [a.v2v_p50, a.v2v_p95]) for a in stats.agents if a.v2v],
            ["p50", "p95"],
            "Voice-to-voice latency per agent",
            " ms",
        ),
        "interruptions": bar_chart(rates, "Interrupted agent turns per agent", "%", peak=100),
    }
    context = {
        "stats": stats,
        "charts": charts,
        "days": days,
        "periods": PERIODS,
        "since_iso": stats.since.isoformat(),
        "until_iso": stats.until.isoformat(),
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "calls/dashboard.html", context)
