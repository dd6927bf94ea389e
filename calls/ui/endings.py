"""Why calls ended, as filters: one ``Q`` per ending, used by the list's "Ended" filter and the dashboard's
breakdown (whose rows link to the list filtered by them). The first matching ending wins, in ``ENDINGS`` order."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from calls.models import Call, CallEvent
from calls.tasks import NEVER_STREAMED_CAUSE, ORPHAN_CAUSE

NOT_CONNECTED = [
    Call.Status.FAILED,
    Call.Status.NO_AGENT,
    Call.Status.REJECTED,
    Call.Status.NO_ANSWER,
    Call.Status.BUSY,
    Call.Status.CANCELLED,
]
SWEPT = [ORPHAN_CAUSE, NEVER_STREAMED_CAUSE]
OPEN = [Call.Status.QUEUED, Call.Status.RINGING, Call.Status.IN_PROGRESS]


def event(kind: str) -> Exists:
    return Exists(CallEvent.objects.filter(call=OuterRef("pk"), kind=kind))


def ending_filters() -> list[tuple[str, str, Q]]:
    """(key, label, Q) in priority order; each Q excludes the endings before it."""
    rules = [
        ("open", "not ended yet", Q(status__in=OPEN, ended_at__isnull=True)),
        ("swept", "closed by the sweeper (no hang-up from Plivo)", Q(hangup_cause__in=SWEPT)),
        ("not-connected", "never connected (failed, busy, no answer…)", Q(status__in=NOT_CONNECTED)),
        ("operator", "an operator hung up", Q(event("hangup-requested"))),
        ("agent", "the agent hung up (goodbye, silence, time limit…)", Q(event("hangup"))),
        ("transfer", "transferred to a person", Q(event("transfer"))),
        ("caller", "the caller hung up", Q(hangup_data__HangupSource="Caller")),
    ]  # fmt: skip
    shown, before = [], Q()
    for key, label, rule in rules:
        shown.append((key, label, rule & ~in_(before) if before else rule))
        before |= rule
    shown.append(("other", "other (the callee, Plivo, unknown)", ~in_(before)))
    return shown


def in_(rule: Q) -> Q:
    """``pk`` among the calls matching ``rule``: negated, a call whose JSON key is missing (NULL) still counts."""
    return Q(pk__in=Call.objects.filter(rule).values("pk"))


ENDING_CHOICES = [(key, label) for key, label, _ in ending_filters()]


def ending_filter(key: str) -> Q | None:
    return next((rule for k, _, rule in ending_filters() if k == key), None)


def endings(calls: QuerySet[Call]) -> list[tuple[str, str, int]]:
    """(key, label, count) of every ending with at least one call."""
    counted = [(key, label, calls.filter(rule).count()) for key, label, rule in ending_filters()]
    return [row for row in counted if row[2]]
