"""The API's endpoints: calls (list with the staff UI's filters, one call, place a call) and agents."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from agents.models import Agent
from calls.api import idempotency
from calls.api.errors import ApiError
from calls.api.permissions import CanPlaceCalls, HasApiKey
from calls.api.serializers import AgentSerializer, CallDetailSerializer, CallSerializer, PlaceCallSerializer
from calls.models import Call, Turn
from calls.outbound import PlaceCallError, place_call
from calls.ui.filters import CallFilterForm, filter_calls

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(help_text="Stable, for programs: e.g. invalid_number, rate_limited."),
                "message": serializers.CharField(help_text="For people."),
                "fields": serializers.DictField(
                    child=serializers.CharField(), required=False, help_text="The inputs at fault and why."
                ),
            },
        )
    },
)
ERROR = OpenApiResponse(ErrorSerializer, description="Every error has this shape.")
ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 429: ERROR, 503: ERROR}
MAX_ID = 2**63 - 1  # ids beyond the database's integer are simply not found
STATUS_FOR_CODE = {"not_configured": 503}  # place_call's codes: 400 unless listed

FILTERS = [
    OpenApiParameter("status", str, enum=Call.Status.values, description="Only calls with this status."),
    OpenApiParameter("direction", str, enum=Call.Direction.values),
    OpenApiParameter("agent", str, description="The agent's id or slug."),
    OpenApiParameter("number", str, description="Part of the caller's or called number."),
    OpenApiParameter("sentiment", str, enum=Call.Sentiment.values),
    OpenApiParameter("interrupted", str, enum=["yes", "no"], description="The caller interrupted the agent."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Created on or after (YYYY-MM-DD)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Created on or before (YYYY-MM-DD)."),
    OpenApiParameter("q", str, description="Text in the transcript or summary."),
]


class CallCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 25
    page_size_query_param = "limit"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": "Invalid cursor: use the `next` or `previous` link as given."}) from None


def agent_by_ref(ref: str, queryset: QuerySet[Agent]) -> Agent | None:
    """The agent ``ref`` names: its id (digits) or its slug."""
    agent = queryset.filter(pk=int(ref)).first() if ref.isdigit() and int(ref) <= MAX_ID else None
    return agent or queryset.filter(slug=ref).first()


def find_agent(ref: str, field: str = "agent") -> Agent:
    """An agent by id (digits) or slug; ``ApiError`` "unknown_agent" (a bad input: 400) otherwise."""
    agent = agent_by_ref(ref, Agent.objects.all())
    if agent is None:
        raise ApiError("unknown_agent", f"No agent with the id or slug “{ref}”.", field, status_code=400)
    return agent


def filter_form(params: QueryDict) -> CallFilterForm:
    """The staff UI's filter form, bound to the query (an agent's slug becomes its id); invalid → 400."""
    data = params.copy()
    ref = data.get("agent", "").strip()
    if ref:
        data["agent"] = str(find_agent(ref).pk)
    form = CallFilterForm(data)
    if not form.is_valid():
        raise ValidationError({name: " ".join(errors) for name, errors in form.errors.items()})
    return form


class CallListCreate(generics.GenericAPIView):
    permission_classes = [HasApiKey, CanPlaceCalls]
    throttle_scope = "call"  # POST counts against API_RATE_CALL, GET against API_RATE_READ
    pagination_class = CallCursor
    serializer_class = CallSerializer

    def get_queryset(self) -> QuerySet[Call]:
        return filter_calls(filter_form(self.request.query_params))

    @extend_schema(
        operation_id="calls_list",
        summary="List calls (newest first)",
        parameters=[
            *FILTERS,
            OpenApiParameter("limit", int, description="Calls per page (default 25, at most 100)."),
        ],
        responses={200: CallSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response(CallSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="calls_create",
        summary="Place an outbound call",
        description="Validates at once (number, agent, caller ID, variables) and answers 201 with the call, "
        "status `queued`; the call is dialled right after. Needs a key with the `call` scope. With an "
        "`Idempotency-Key` header, a retry with the same key answers 200 with the call already placed.",
        request=PlaceCallSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Any unique text (e.g. a UUID): a retried request places no second call (24 h).",
            )
        ],
        responses={201: CallDetailSerializer, 200: CallDetailSerializer, 409: ERROR, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = PlaceCallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        agent = find_agent(values["agent"])

        def place() -> Call:
            try:
                return place_call(agent, values["to"], values["variables"], from_number=values["from"])
            except PlaceCallError as exc:
                raise ApiError(exc.code, exc.message, exc.field, STATUS_FOR_CODE.get(exc.code, 400)) from None

        call, placed = idempotency.once(request.auth, request.headers.get("Idempotency-Key"), place)
        call = detail_queryset().get(pk=call.pk)
        body = CallDetailSerializer(call, context={"request": request}).data
        code = status.HTTP_201_CREATED if placed else status.HTTP_200_OK
        return Response(body, status=code, headers={"Location": body["url"]})


def detail_queryset() -> QuerySet[Call]:
    return Call.objects.select_related("agent").prefetch_related(
        Prefetch("turns", queryset=Turn.objects.order_by("sequence"))
    )


class CallDetail(generics.RetrieveAPIView):
    serializer_class = CallDetailSerializer

    def get_queryset(self) -> QuerySet[Call]:
        if int(self.kwargs["pk"]) > MAX_ID:
            raise NotFound("No call with this id.")
        return detail_queryset()

    @extend_schema(operation_id="calls_retrieve", summary="One call", responses={200: CallDetailSerializer, **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def agent_queryset() -> QuerySet[Agent]:
    return Agent.objects.prefetch_related("phone_numbers", "extraction_fields", "tools", "transfer_destinations")


class AgentList(generics.GenericAPIView):
    serializer_class = AgentSerializer

    @extend_schema(
        operation_id="agents_list",
        summary="All agents",
        responses={
            200: OpenApiResponse(AgentSerializer(many=True), description='`{"results": [agent, …]}`, ordered by name.'),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        agents = agent_queryset().order_by("name", "id")
        return Response({"results": AgentSerializer(agents, many=True).data})


class AgentDetail(generics.GenericAPIView):
    serializer_class = AgentSerializer

    @extend_schema(
        operation_id="agents_retrieve",
        summary="One agent (by id or slug)",
        responses={200: AgentSerializer, **ERRORS},
    )
    def get(self, request: Request, ref: str) -> Response:
        agent = agent_by_ref(ref, agent_queryset())
        if agent is None:
            raise NotFound(f"No agent with the id or slug “{ref}”.")
        return Response(AgentSerializer(agent).data)
