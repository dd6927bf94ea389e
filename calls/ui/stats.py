"""Dashboard numbers over a period: calls per day, durations, latency per agent, interruptions, statuses."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Avg, Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from calls.metrics import percentile
from calls.models import Call, Turn
from calls.ui.endings import endings

NO_AGENT = "(no agent)"


@dataclass
class AgentStats:
    name: str
    calls: int = 0
    agent_turns: int = 0
    interrupted_turns: int = 0
    v2v: list[float] = field(default_factory=list)  # every reply that measured one, interrupted ones included
    line_ms: list[float] = field(default_factory=list)  # fixed lines (greeting, reprompt, goodbye…): to first frame

    @property
    def v2v_p50(self) -> float | None:
        value = percentile(self.v2v, 50)
        return None if value is None else round(value, 1)

    @property
    def v2v_p95(self) -> float | None:
        value = percentile(self.v2v, 95)
        return None if value is None else round(value, 1)

    @property
    def interruption_rate(self) -> float | None:
        """Percentage of agent turns the caller interrupted."""
        return round(100 * self.interrupted_turns / self.agent_turns, 1) if self.agent_turns else None


@dataclass
class Dashboard:
    since: date
    until: date
    total_calls: int
    average_duration: float | None
    per_day: list[tuple[str, int]]
    by_status: list[tuple[str, int]]
    agents: list[AgentStats]
    interruption_rate: float | None
    endings: list[tuple[str, str, int]] = field(default_factory=list)  # (key, why, calls): calls.ui.endings

    @property
    def replies_measured(self) -> int:
        return sum(len(a.v2v) for a in self.agents)

    @property
    def lines_measured(self) -> int:
        return sum(len(a.line_ms) for a in self.agents)


def calls_since(since: date) -> QuerySet[Call]:
    return Call.objects.filter(created_at__date__gte=since)


def calls_per_day(calls: QuerySet[Call], since: date, until: date) -> list[tuple[str, int]]:
    per_day = calls.order_by().annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("id"))
    counts = dict(per_day)
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    return [(day.isoformat(), counts.get(day, 0)) for day in days]


def agent_stats(calls: QuerySet[Call]) -> list[AgentStats]:
    stats: dict[str, AgentStats] = defaultdict(lambda: AgentStats(""))
    for name, count in calls.order_by().values_list("agent__name").annotate(n=Count("id")):
        stats[name or NO_AGENT].calls = count
    turns = Turn.objects.filter(call__in=calls, role=Turn.Role.AGENT)
    for name, interrupted, latency in turns.values_list("call__agent__name", "interrupted", "latency"):
        entry = stats[name or NO_AGENT]
        entry.agent_turns += 1
        entry.interrupted_turns += int(interrupted)
        value = (latency or {}).get("voice_to_voice_ms")
        if isinstance(value, int | float) and not isinstance(value, bool):
            entry.v2v.append(float(value))
        line = (latency or {}).get("line_ms")
        if isinstance(line, int | float) and not isinstance(line, bool):
            entry.line_ms.append(float(line))
    for name, entry in stats.items():
        entry.name = name
    return sorted(stats.values(), key=lambda s: s.name)


def dashboard(days: int, today: date | None = None) -> Dashboard:
    until = today or timezone.localdate()
    since = until - timedelta(days=days - 1)
    calls = calls_since(since)
    agents = agent_stats(calls)
    turns = sum(a.agent_turns for a in agents)
    interrupted = sum(a.interrupted_turns for a in agents)
    average = calls.exclude(duration_seconds=None).aggregate(avg=Avg("duration_seconds"))["avg"]
    statuses = calls.order_by("status").values_list("status").annotate(n=Count("id"))
    return Dashboard(
        since=since,
        until=until,
        total_calls=calls.count(),
        average_duration=None if average is None else round(average, 1),
        per_day=calls_per_day(calls, since, until),
        by_status=[(status, count) for status, count in statuses],
        agents=agents,
        interruption_rate=round(100 * interrupted / turns, 1) if turns else None,
        endings=endings(calls),
    )
