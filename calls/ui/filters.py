"""The call list's filters and search, as a GET form that narrows a queryset."""

from __future__ import annotations

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from agents.models import Agent
from calls.models import Call, Turn

ANY = [("", "any")]


class CallFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200)
    agent = forms.ModelChoiceField(Agent.objects.all(), required=False, empty_label="any")
    number = forms.CharField(required=False, max_length=32, help_text="Caller or called number")
    direction = forms.ChoiceField(choices=ANY + Call.Direction.choices, required=False)
    status = forms.ChoiceField(choices=ANY + Call.Status.choices, required=False)
    answered_by = forms.ChoiceField(choices=ANY + Call.AnsweredBy.choices, required=False, label="Answered by")
    sentiment = forms.ChoiceField(choices=ANY + Call.Sentiment.choices, required=False)
    interrupted = forms.ChoiceField(choices=[*ANY, ("yes", "yes"), ("no", "no")], required=False)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))


def was_interrupted() -> Exists:
    return Exists(Turn.objects.filter(call=OuterRef("pk"), role=Turn.Role.AGENT, interrupted=True))


def number_filter(raw: str) -> Q:
    digits = "".join(ch for ch in raw if ch.isdigit())
    needle = digits or raw.strip()
    return Q(from_number__contains=needle) | Q(to_number__contains=needle)


def search_filter(text: str) -> Q:
    in_turns = Exists(Turn.objects.filter(call=OuterRef("pk"), text__icontains=text))
    return Q(summary__icontains=text) | Q(in_turns)


def filter_calls(form: CallFilterForm, calls: QuerySet[Call] | None = None) -> QuerySet[Call]:
    """Apply every valid filter of a bound form (invalid ones are ignored and shown as errors)."""
    calls = Call.objects.select_related("agent") if calls is None else calls
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    exact = {name: data.get(name) for name in ("agent", "direction", "status", "answered_by", "sentiment")}
    calls = calls.filter(**{name: value for name, value in exact.items() if value})
    if data.get("number"):
        calls = calls.filter(number_filter(data["number"]))
    if data.get("date_from"):
        calls = calls.filter(created_at__date__gte=data["date_from"])
    if data.get("date_to"):
        calls = calls.filter(created_at__date__lte=data["date_to"])
    if data.get("interrupted"):
        calls = calls.filter(was_interrupted()) if data["interrupted"] == "yes" else calls.exclude(was_interrupted())
    if data.get("q", "").strip():
        calls = calls.filter(search_filter(data["q"].strip()))
    return calls.order_by("-created_at", "-pk")
