"""“Call a number…”: the form behind the Agent admin action. Staff with the ``calls.add_call`` permission."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from agents import templating
from agents.models import Agent
from calls.outbound import PlaceCallError, place_call
from calls.ui.access import calls_viewer_required

PLACE_PERMISSION = "calls.add_call"
FIELDS = {"to": "to", "from": "from_number", "variables": "variables"}


def can_place_calls(user) -> bool:
    return user.is_staff and user.has_perm(PLACE_PERMISSION)


class PlaceCallForm(forms.Form):
    to = forms.CharField(
        label="Number to call", max_length=64, help_text="With its country code, e.g. +1 415 555 0199."
    )
    from_number = forms.ChoiceField(label="Call from", required=False)
    variables = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "name=Ana\norder_id=1234"}),
        help_text="One name=value per line; they fill the agent's {{placeholders}}.",
    )

    def __init__(self, agent: Agent, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        numbers = agent.phone_numbers.filter(enabled=True).order_by("id")
        field = self.fields["from_number"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(n.number, str(n)) for n in numbers]

    def clean_variables(self) -> dict[str, str]:
        variables: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["variables"].splitlines(), 1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"Line {number} ({line.strip()!r}): write it as name=value.")
            variables[name.strip()] = value.strip()
        return variables


@calls_viewer_required
def place_call_view(request: HttpRequest, agent_id: int) -> HttpResponse:
    if not can_place_calls(request.user):
        raise PermissionDenied("You may not place calls.")
    agent = get_object_or_404(Agent, pk=agent_id)
    form = PlaceCallForm(agent, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            call = place_call(agent, data["to"], data["variables"], from_number=data["from_number"])
        except PlaceCallError as exc:
            form.add_error(FIELDS.get(exc.field or ""), exc.message)
        else:
            messages.success(request, f"Calling {call.to_number} from {call.from_number}: the call is queued.")
            return redirect("call-detail", pk=call.pk)
    snapshot = agent.snapshot_without_relations()
    used = templating.find_all(str(snapshot.get(name) or "") for name in templating.TEMPLATED)
    context = {
        "agent": agent,
        "form": form,
        "needed": sorted(used - set(templating.BUILT_IN)),
        "built_in": templating.BUILT_IN,
    }
    return render(request, "calls/place_call.html", context)
