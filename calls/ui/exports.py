"""Downloads: the filtered call list as CSV, one call as text or JSON."""

from __future__ import annotations

import csv
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from calls.export import call_as_dict, csv_rows, transcript_text
from calls.models import Call
from calls.ui.access import calls_viewer_required
from calls.ui.filters import CallFilterForm, filter_calls


def attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@calls_viewer_required
def export_csv(request: HttpRequest) -> HttpResponse:
    """Every call matching the list's filters (not only the current page)."""
    calls = filter_calls(CallFilterForm(request.GET))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    csv.writer(response).writerows(csv_rows(calls.iterator(chunk_size=500)))
    return attachment(response, f"calls-{timezone.localdate().isoformat()}.csv")


@calls_viewer_required
def export_text(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("agent"), pk=pk)
    response = HttpResponse(transcript_text(call), content_type="text/plain; charset=utf-8")
    return attachment(response, f"call-{call.pk}.txt")


@calls_viewer_required
def export_json(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("agent"), pk=pk)
    body = json.dumps(call_as_dict(call, full=True), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    return attachment(HttpResponse(body, content_type="application/json"), f"call-{call.pk}.json")
