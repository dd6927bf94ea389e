"""A call's recording for API clients: the WAV with HTTP Range support, behind the API key like the rest."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from calls.api.views import MAX_ID
from calls.models import Call
from calls.ui.recordings import recording_file, recording_response


class CallRecording(generics.GenericAPIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)  # players ask for audio/*; errors are JSON

    @extend_schema(
        operation_id="calls_recording",
        summary="A call's recording (stereo WAV: caller left, agent right)",
        description="Supports `Range: bytes=…` (206). 404 when the call has no recording.",
        responses={(200, "audio/wav"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="No recording.")},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        call = Call.objects.filter(pk=pk).first() if pk <= MAX_ID else None
        if call is None:
            raise NotFound("No call with this id.")
        path = recording_file(call)
        if path is None:
            raise NotFound("This call has no recording.")
        return recording_response(request, path, f"call-{call.pk}.wav", "attachment")
