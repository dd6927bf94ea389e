"""Campaigns in the API: create (JSON rows or a CSV upload, with the per-row import report), list, one with its
progress, start / pause / resume / cancel, its rows (cursor pages) and its results as CSV."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from calls.api.errors import ApiError
from calls.api.permissions import CanPlaceCalls, HasApiKey
from calls.api.serializers import AgentIdOrSlugField, absolute
from calls.api.views import ERROR, ERRORS, MAX_ID, CallCursor, find_agent
from calls.campaign_models import Campaign, CampaignRow
from calls.campaigns import control, csv_import, windows
from calls.campaigns.export import results_csv

SETTINGS = [
    "window_start",
    "window_end",
    "timezone",
    "max_concurrent",
    "max_attempts",
    "retry_delay_minutes",
    "retry_no_answer",
    "retry_busy",
    "retry_voicemail",
]


class DaysField(serializers.ListField):
    """Weekdays as a list, or "0,1,2" in a form upload."""

    child = serializers.IntegerField(min_value=0, max_value=6)

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) and "," in value[0]:
            return [part.strip() for part in value[0].split(",") if part.strip()]
        return value


class CampaignSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(help_text="Rows by state.")
    rows_url = serializers.SerializerMethodField()
    results_url = serializers.SerializerMethodField(help_text="The results as CSV.")
    locals()["from"] = serializers.CharField(source="from_number")

    class Meta:
        model = Campaign
        fields = ["id", "url", "name", "agent", "status", "from", "window_days", *SETTINGS, "created_at"]
        fields += ["started_at", "finished_at", "progress", "rows_url", "results_url"]

    def link(self, name: str, campaign: Campaign) -> str:
        return absolute(self.context.get("request"), reverse(name, args=[campaign.pk]))

    def get_url(self, campaign: Campaign) -> str:
        return self.link("api-campaign-detail", campaign)

    def get_rows_url(self, campaign: Campaign) -> str:
        return self.link("api-campaign-rows", campaign)

    def get_results_url(self, campaign: Campaign) -> str:
        return self.link("api-campaign-results", campaign)

    def get_agent(self, campaign: Campaign) -> dict[str, Any]:
        return {"id": campaign.agent_id, "slug": campaign.agent.slug, "name": campaign.agent.name}

    def get_progress(self, campaign: Campaign) -> dict[str, int]:
        return control.progress(campaign)


class CreateCampaignSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    agent = AgentIdOrSlugField()
    locals()["from"] = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    window_days = DaysField(required=False)
    window_start = serializers.TimeField(required=False)
    window_end = serializers.TimeField(required=False)
    timezone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    max_concurrent = serializers.IntegerField(required=False, min_value=1, max_value=500)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=10)
    retry_delay_minutes = serializers.IntegerField(required=False, min_value=1, max_value=7 * 24 * 60)
    retry_no_answer = serializers.BooleanField(required=False)
    retry_busy = serializers.BooleanField(required=False)
    retry_voicemail = serializers.BooleanField(required=False)
    rows = serializers.JSONField(required=False, help_text='JSON: [{"phone": "+14155550199", "name": "Ana"}, …]')
    file = serializers.FileField(required=False, help_text="Multipart: the CSV (a phone column plus variables).")
    start = serializers.BooleanField(required=False, default=False, help_text="Start at once.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("rows" in attrs) == ("file" in attrs):
            raise serializers.ValidationError({"rows": "Give the list either as `rows` (JSON) or as `file` (CSV)."})
        return attrs


class RowSerializer(serializers.ModelSerializer):
    line = serializers.IntegerField(source="position")
    call = serializers.SerializerMethodField(help_text="The row's last call (null before the first).")
    extracted = serializers.SerializerMethodField(help_text="The agent's extracted fields from that call.")

    class Meta:
        model = CampaignRow
        fields = ["id", "line", "phone", "variables", "timezone", "status", "outcome", "attempts"]
        fields += ["next_attempt_at", "error", "call", "extracted", "updated_at"]

    def get_call(self, row: CampaignRow) -> dict[str, Any] | None:
        if row.last_call is None:
            return None
        url = absolute(self.context.get("request"), reverse("api-call-detail", args=[row.last_call_id]))
        return {"id": row.last_call_id, "url": url, "status": row.last_call.status}

    def get_extracted(self, row: CampaignRow) -> dict[str, Any]:
        return dict(row.last_call.extracted_data or {}) if row.last_call else {}


def get_campaign(pk: int) -> Campaign:
    campaign = Campaign.objects.select_related("agent").filter(pk=pk).first() if pk <= MAX_ID else None
    if campaign is None:
        raise NotFound("No campaign with this id.")
    return campaign


class CampaignCursor(CallCursor):
    ordering = ("-created_at", "-id")


class RowCursor(CallCursor):
    ordering = ("position", "id")
    page_size = 100
    max_page_size = 500


class CampaignListCreate(generics.GenericAPIView):
    permission_classes = [HasApiKey, CanPlaceCalls]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    throttle_scope = "call"
    pagination_class = CampaignCursor
    serializer_class = CampaignSerializer

    @extend_schema(
        operation_id="campaigns_list",
        summary="List campaigns (newest first)",
        responses={200: CampaignSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(Campaign.objects.select_related("agent"))
        assert page is not None
        return self.get_paginated_response(CampaignSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="campaigns_create",
        summary="Create a campaign with its list",
        description="JSON with `rows`, or multipart with `file` (CSV: a `phone` column plus variables). A problem "
        "with the whole list refuses it (400, nothing stored); a bad row is stored as `skipped` with its reason, "
        "and every such row is in the answer's `import.problems` (line, phone, error). `start: true` starts it.",
        request={"application/json": CreateCampaignSerializer, "multipart/form-data": CreateCampaignSerializer},
        responses={201: CampaignSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = CreateCampaignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent = find_agent(values["agent"])
        campaign = Campaign(name=values["name"], agent=agent, from_number=values["from"], created_by=None)
        for name in ["window_days", *SETTINGS]:
            if name in values:
                setattr(campaign, name, values[name])
        problems = windows.validate_window(
            campaign.window_days, campaign.window_start, campaign.window_end, campaign.timezone
        )
        if problems:
            raise ValidationError(problems)
        try:
            records = (
                csv_import.read_csv(values["file"].read(), agent)
                if "file" in values
                else csv_import.json_records(values["rows"])
            )
        except csv_import.CsvRefused as exc:
            raise ApiError("invalid_list", exc.message, "file" if "file" in values else "rows") from None
        if values["start"]:
            try:
                control.ready_to_call(campaign)
            except control.CampaignError as exc:
                raise ApiError(exc.code, exc.message, None, 503 if exc.code == "not_configured" else 400) from None
        with transaction.atomic():
            campaign.save()
            report = csv_import.import_records(campaign, records)
        if values["start"] and report.created:
            campaign = control.apply(campaign.pk, "start")
        body = CampaignSerializer(campaign, context={"request": request}).data | {"import": report.as_dict()}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class CampaignDetail(generics.GenericAPIView):
    serializer_class = CampaignSerializer

    @extend_schema(
        operation_id="campaigns_retrieve",
        summary="One campaign and its progress",
        responses={200: CampaignSerializer, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(CampaignSerializer(get_campaign(pk), context={"request": request}).data)


class CampaignAction(generics.GenericAPIView):
    permission_classes = [HasApiKey, CanPlaceCalls]
    serializer_class = CampaignSerializer
    action = ""

    def post(self, request: Request, pk: int) -> Response:
        campaign = get_campaign(pk)
        try:
            campaign = control.apply(campaign.pk, self.action)
        except control.CampaignError as exc:
            code = {"invalid_state": 409, "not_configured": 503}.get(exc.code, 400)
            raise ApiError(exc.code, exc.message, None, code) from None
        return Response(CampaignSerializer(campaign, context={"request": request}).data)


def action_view(name: str, summary: str) -> type[CampaignAction]:
    def post(self: CampaignAction, request: Request, pk: int) -> Response:
        return CampaignAction.post(self, request, pk)

    schema = extend_schema(
        operation_id=f"campaigns_{name}",
        summary=summary,
        request=None,
        responses={200: CampaignSerializer, 409: ERROR, **ERRORS},
    )
    return type(f"Campaign{name.title()}", (CampaignAction,), {"action": name, "post": schema(post)})


CampaignStart = action_view("start", "Start a draft campaign")
CampaignPause = action_view("pause", "Pause (calls in progress finish; no new ones)")
CampaignResume = action_view("resume", "Resume a paused campaign")
CampaignCancel = action_view("cancel", "Cancel (rows not yet called are cancelled)")


class AddRowsSerializer(serializers.Serializer):
    rows = serializers.JSONField(required=False, help_text='JSON: [{"phone": "+14155550199", "name": "Ana"}, …]')
    file = serializers.FileField(required=False, help_text="Multipart: the CSV (a phone column plus variables).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("rows" in attrs) == ("file" in attrs):
            raise serializers.ValidationError({"rows": "Give the list either as `rows` (JSON) or as `file` (CSV)."})
        return attrs


class CampaignRows(generics.GenericAPIView):
    permission_classes = [HasApiKey, CanPlaceCalls]  # reading needs any key, adding rows the "call" scope
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    pagination_class = RowCursor
    serializer_class = RowSerializer

    @extend_schema(
        operation_id="campaigns_rows_add",
        summary="Add a list to a campaign (after its rows; a draft, running or paused campaign)",
        description="JSON with `rows`, or multipart with `file`, checked like the list a campaign is created with. "
        "A number already in the campaign is reported as a duplicate and called once; the new rows' `line` goes on "
        "after the last row's. A running campaign calls them in its next ticks. 409 for a cancelled or completed "
        "campaign. The answer is the campaign with the list's `import` report.",
        request={"application/json": AddRowsSerializer, "multipart/form-data": AddRowsSerializer},
        responses={201: CampaignSerializer, 409: ERROR, **ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = get_campaign(pk)
        data = AddRowsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            records = (
                csv_import.read_csv(values["file"].read(), campaign.agent)
                if "file" in values
                else csv_import.json_records(values["rows"])
            )
        except csv_import.CsvRefused as exc:
            raise ApiError("invalid_list", exc.message, "file" if "file" in values else "rows") from None
        try:
            report = csv_import.import_records(campaign, records)
        except csv_import.CampaignClosed as exc:
            raise ApiError("invalid_state", exc.message, None, 409) from None
        campaign = get_campaign(pk)
        body = CampaignSerializer(campaign, context={"request": request}).data | {"import": report.as_dict()}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="campaigns_rows",
        summary="A campaign's rows with their outcome, call and extracted fields (in list order)",
        parameters=[
            OpenApiParameter("status", str, enum=CampaignRow.Status.values),
            OpenApiParameter("outcome", str, enum=CampaignRow.Outcome.values),
            OpenApiParameter("limit", int, description="Rows per page (default 100, at most 500)."),
        ],
        responses={200: RowSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        rows: QuerySet[CampaignRow] = get_campaign(pk).rows.select_related("last_call")
        for name, choices in (("status", CampaignRow.Status.values), ("outcome", CampaignRow.Outcome.values)):
            if value := request.query_params.get(name):
                if value not in choices:
                    raise ValidationError({name: f"One of {', '.join(choices)}."})
                rows = rows.filter(**{name: value})
        page = self.paginate_queryset(rows)
        assert page is not None
        return self.get_paginated_response(RowSerializer(page, many=True, context={"request": request}).data)


class CampaignResults(generics.GenericAPIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="campaigns_results",
        summary="A campaign's results as CSV (one line per row; variables and extracted fields as columns)",
        responses={(200, "text/csv"): OpenApiTypes.STR, 404: OpenApiResponse(description="No such campaign.")},
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        campaign = get_campaign(pk)
        base = absolute(request, "/")[:-1]
        response = StreamingHttpResponse(results_csv(campaign, base), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-results.csv"'
        return response
