"""The call list's filters and search, as a GET form that narrows a queryset."""

from __future__ import annotations

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Length

from agents.models import Agent
from calls.models import Call, CallEvent, Turn
from calls.ui.endings import ENDING_CHOICES, ending_filter
from calls.ui.search import search_filter

ANY = [("", "any")]


class CallFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=200)
    agent = forms.ModelChoiceField(Agent.objects.all(), required=False, empty_label="any")
    number = forms.CharField(required=False, max_length=64, help_text="Caller or called number")
    direction = forms.ChoiceField(choices=ANY + Call.Direction.choices, required=False)
    status = forms.ChoiceField(choices=ANY + Call.Status.choices, required=False)
    answered_by = forms.ChoiceField(choices=ANY + Call.AnsweredBy.choices, required=False, label="Answered by")
    sentiment = forms.ChoiceField(choices=ANY + Call.Sentiment.choices, required=False)
    interrupted = forms.ChoiceField(choices=[*ANY, ("yes", "yes"), ("no", "no")], required=False)
    mode = forms.ChoiceField(choices=ANY + Call._meta.get_field("mode").choices, required=False, label="Mode")
    alerts = forms.ChoiceField(choices=[*ANY, ("yes", "with alerts"), ("no", "none")], required=False, label="Alerts")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    ended = forms.ChoiceField(choices=ANY + ENDING_CHOICES, required=False, label="Ended")
    field = forms.RegexField(
        r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        required=False,
        label="Extracted field",
        help_text="A field the analysis extracts, e.g. email",
        error_messages={"invalid": "Letters, digits and _ only."},
    )
    field_value = forms.CharField(required=False, max_length=200, label="Field contains", help_text="Empty: any value")


def had_alerts() -> Exists:
    """Listen mode: an alert phrase was said on the call."""
    return Exists(CallEvent.objects.filter(call=OuterRef("pk"), kind="alert"))


def was_interrupted() -> Exists:
    return Exists(Turn.objects.filter(call=OuterRef("pk"), role=Turn.Role.AGENT, interrupted=True))


def number_filter(raw: str) -> Q:
    digits = "".join(ch for ch in raw if ch.isdigit())
    needle = digits or raw.strip()
    return Q(from_number__contains=needle) | Q(to_number__contains=needle)


def with_extracted(calls: QuerySet[Call], name: str, value: str) -> QuerySet[Call]:
    """Calls whose extracted ``name`` contains ``value`` (any non-empty value when ``value`` is empty). The key is
    taken as a key whatever it is called (a field named "contains" is not a lookup)."""
    calls = calls.alias(_field=KeyTextTransform(name, "extracted_data"))
    if value.strip():
        return calls.filter(_field__icontains=value.strip())
    return calls.alias(_length=Length("_field")).filter(_field__isnull=False, _length__gt=0)


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
    if data.get("mode"):
        calls = calls.filter(mode=data["mode"])
    if data.get("alerts"):
        calls = calls.filter(had_alerts()) if data["alerts"] == "yes" else calls.exclude(had_alerts())
    if data.get("interrupted"):
        calls = calls.filter(was_interrupted()) if data["interrupted"] == "yes" else calls.exclude(was_interrupted())
    if data.get("q", "").strip():
        calls = calls.filter(search_filter(data["q"].strip()))
    if data.get("ended") and (ended := ending_filter(data["ended"])) is not None:
        calls = calls.filter(ended)
    if data.get("field"):
        calls = with_extracted(calls, data["field"], data.get("field_value") or "")
    return calls.order_by("-created_at", "-pk")
