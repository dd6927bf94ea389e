"""What the API shows of calls and agents (never secrets: no webhook secret, no tool URLs, headers or keys)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents import templating
from agents.models import Agent, ExtractionField, PhoneNumber, Tool, TransferDestination
from calls.models import Call, Turn
from calls.ui.recordings import recording_file


def absolute(request: Any, path: str) -> str:
    """``path`` as an absolute URL: on PUBLIC_URL when set, else on the request's host."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL.rstrip("/") + path
    return request.build_absolute_uri(path) if request is not None else path


# --- agents ---


class PhoneNumberSerializer(serializers.ModelSerializer):
    class Meta:
        model = PhoneNumber
        fields = ["number", "label", "enabled"]


class ExtractionFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExtractionField
        fields = ["name", "type", "description"]


class ToolSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tool
        fields = ["name", "description", "parameters"]


class TransferDestinationSerializer(serializers.ModelSerializer):
    class Meta:
        model = TransferDestination
        fields = ["name", "destination", "description", "warm"]


class AgentSerializer(serializers.ModelSerializer):
    end_call_phrases = serializers.ListField(source="end_call_phrase_list", child=serializers.CharField())
    variables = serializers.SerializerMethodField(help_text="Placeholders a call must give values for.")
    webhook_configured = serializers.SerializerMethodField(help_text="Results are sent to a webhook after calls.")
    phone_numbers = PhoneNumberSerializer(many=True)
    extraction_fields = ExtractionFieldSerializer(many=True)
    tools = ToolSerializer(many=True)
    transfer_destinations = TransferDestinationSerializer(many=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "slug",
            "name",
            "enabled",
            "version",
            "created_at",
            "updated_at",
            "variables",
            "phone_numbers",
            "language",
            "voice",
            "speaking_rate",
            "system_prompt",
            "greeting",
            "goodbye_message",
            "reprompt_text",
            "fallback_line",
            "transfer_line",
            "voicemail_message",
            "llm_model",
            "temperature",
            "max_tokens",
            "stt_provider",
            "llm_provider",
            "tts_provider",
            "end_of_speech_ms",
            "silence_timeout_seconds",
            "max_reprompts",
            "max_call_seconds",
            "end_call_phrases",
            "barge_in_enabled",
            "barge_in_min_speech_ms",
            "interruption_mode",
            "preemptive_reply",
            "transfer_number",
            "record_calls",
            "machine_detection",
            "voicemail_action",
            "ring_timeout_seconds",
            "memory_enabled",
            "memory_depth",
            "summary_instructions",
            "webhook_configured",
            "extraction_fields",
            "tools",
            "transfer_destinations",
        ]

    def get_variables(self, agent: Agent) -> list[str]:
        names = templating.find_all(str(getattr(agent, name) or "") for name in templating.TEMPLATED)
        return sorted(names - set(templating.BUILT_IN))

    def get_webhook_configured(self, agent: Agent) -> bool:
        return bool(agent.webhook_url)


# --- calls ---


class AgentRefSerializer(serializers.Serializer):
    """The agent that took the call, at the version the call ran with."""

    id = serializers.IntegerField(allow_null=True, help_text="Null once the agent is deleted.")
    name = serializers.CharField()
    slug = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)


class TurnSerializer(serializers.ModelSerializer):
    heard_text = serializers.SerializerMethodField(help_text="What the caller heard (all of it unless interrupted).")

    class Meta:
        model = Turn
        fields = [
            "sequence",
            "role",
            "text",
            "heard_text",
            "interrupted",
            "resumed",
            "start_ms",
            "end_ms",
            "latency",
            "tool_calls",
        ]

    def get_heard_text(self, turn: Turn) -> str:
        return turn.heard_text if turn.interrupted else turn.text


class CallSerializer(serializers.ModelSerializer):
    """A call in the list."""

    url = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()
    locals()["from"] = serializers.CharField(source="from_number", help_text="E.164 (or a SIP URI as sent).")
    to = serializers.CharField(source="to_number", help_text="E.164 (or a SIP URI as sent).")

    class Meta:
        model = Call
        fields = [
            "id",
            "url",
            "call_uuid",
            "direction",
            "status",
            "from",
            "to",
            "agent",
            "created_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "hangup_cause",
            "answered_by",
            "sentiment",
            "summary",
        ]

    def get_url(self, call: Call) -> str:
        return absolute(self.context.get("request"), reverse("api-call-detail", args=[call.pk]))

    @extend_schema_field(AgentRefSerializer(allow_null=True))
    def get_agent(self, call: Call) -> dict[str, Any] | None:
        snapshot = call.agent_snapshot or {}
        if call.agent is None and not snapshot:
            return None
        return {
            "id": call.agent_id,
            "name": call.agent.name if call.agent else str(snapshot.get("name", "")),
            "slug": call.agent.slug if call.agent else str(snapshot.get("slug", "")),
            "version": call.agent_version,
        }


class CallDetailSerializer(CallSerializer):
    """One call: what happened, what was said and heard, what was learnt, how fast it was."""

    transcript = TurnSerializer(many=True, source="turns")
    metrics = serializers.JSONField(help_text="The call's latency and talk metrics (e.g. v2v_p50_ms, greeting_ms).")
    recording_url = serializers.SerializerMethodField(
        help_text="The recording for API clients (this API key; null when the call has none)."
    )
    staff_recording_url = serializers.SerializerMethodField(
        help_text="The same recording in the staff UI (needs a staff login)."
    )

    class Meta(CallSerializer.Meta):
        fields = [
            *CallSerializer.Meta.fields,
            "request_uuid",
            "variables",
            "stream_started_at",
            "stream_ended_at",
            "sentiment_reason",
            "extracted_data",
            "analysis_status",
            "metrics",
            "recording_url",
            "staff_recording_url",
            "transcript",
        ]

    def to_representation(self, call: Call) -> dict[str, Any]:
        self._has_recording = recording_file(call) is not None
        return super().to_representation(call)

    @extend_schema_field(OpenApiTypes.URI)
    def get_recording_url(self, call: Call) -> str | None:
        if not self._has_recording:
            return None
        return absolute(self.context.get("request"), reverse("api-call-recording", args=[call.pk]))

    @extend_schema_field(OpenApiTypes.URI)
    def get_staff_recording_url(self, call: Call) -> str | None:
        if not self._has_recording:
            return None
        return absolute(self.context.get("request"), reverse("call-recording", args=[call.pk]))


# --- placing a call ---


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}], "example": "dental-desk"})
class AgentIdOrSlugField(serializers.Field):
    default_error_messages = {"invalid": "Give the agent's id (a number) or its slug (text)."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).strip():
            self.fail("invalid")
        return str(data).strip()[:120]

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "example": {"first_name": "Ana"},
        "description": "Values for the agent's {{placeholders}} (see the agent's `variables`).",
    }
)
class VariablesField(serializers.JSONField):
    pass


class PlaceCallSerializer(serializers.Serializer):
    agent = AgentIdOrSlugField(help_text="The agent's id or slug.")
    to = serializers.CharField(max_length=64, help_text="The number to call, with its country code (E.164).")
    variables = VariablesField(required=False, default=dict)
    locals()["from"] = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="One of the agent's numbers to call from (default: its first enabled number).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in unknown})
        return attrs
