"""Admin for agents, their knowledge and phone numbers."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from agents.models import Agent, ExtractionField, FaqEntry, PhoneNumber
from agents.phone import normalize_phone
from agents.tool_admin import FaqEntryForm, TransferDestinationInline
from agents.validators import validate_webhook_url


class PhoneNumberForm(forms.ModelForm):
    """Numbers as people write them ("+1 (415) 555-0199") are stored as E.164; no country code is refused."""

    number = forms.CharField(max_length=64, help_text="With its country code, e.g. +1 415 555 0100 (stored as E.164).")

    class Meta:
        model = PhoneNumber
        fields = "__all__"

    def clean_number(self) -> str:
        return normalize_phone(self.cleaned_data["number"])


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    form = PhoneNumberForm
    extra = 1
    fields = ["number", "label", "enabled"]


class FaqEntryInline(admin.StackedInline):
    model = FaqEntry
    form = FaqEntryForm
    extra = 0
    fields = [("question", "keywords"), "answer", "position", ("tool", "tool_pattern")]


class ExtractionFieldInline(admin.TabularInline):
    model = ExtractionField
    extra = 0
    fields = ["name", "type", "description"]


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = "__all__"

    def clean_webhook_url(self) -> str:
        """Only http(s) URLs of public hosts (``agents.webhook_targets``): checked again before each delivery."""
        url = self.cleaned_data["webhook_url"]
        validate_webhook_url(url)
        return url

    transfer_number = forms.CharField(
        max_length=64,
        required=False,
        help_text="Number to transfer to when the caller asks for a person, with its country code.",
    )

    def clean_transfer_number(self) -> str:
        number = self.cleaned_data["transfer_number"]
        return normalize_phone(number) if number.strip() else ""


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = [
        "name",
        "enabled",
        "language",
        "voice",
        "llm_provider",
        "llm_model",
        "number_count",
        "version",
        "updated_at",
    ]
    list_filter = [
        "enabled",
        "language",
        "stt_provider",
        "llm_provider",
        "tts_provider",
        "barge_in_enabled",
        "record_calls",
    ]
    search_fields = ["name", "slug", "system_prompt", "greeting", "phone_numbers__number"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [PhoneNumberInline, FaqEntryInline, ExtractionFieldInline, TransferDestinationInline]
    filter_horizontal = ["tools"]
    actions = ["duplicate_agents", "call_a_number"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "enabled", "version"]}),
        ("Persona", {"fields": ["system_prompt", "greeting", "goodbye_message"]}),
        ("Voice and language", {"fields": ["language", "voice", "speaking_rate"]}),
        (
            "Providers",
            {
                "fields": ["stt_provider", "llm_provider", "tts_provider", "llm_model", "temperature", "max_tokens"],
                "description": "“Auto” uses Azure Speech / OpenAI when their keys are configured, "
                "otherwise the offline engines (no AI).",
            },
        ),
        (
            "Turn-taking",
            {
                "fields": [
                    "end_of_speech_ms",
                    "barge_in_enabled",
                    "interruption_mode",
                    "barge_in_min_speech_ms",
                    "preemptive_reply",
                    "silence_timeout_seconds",
                    "reprompt_text",
                    "max_reprompts",
                    "fallback_line",
                ]
            },
        ),
        (
            "Ending and transfer",
            {"fields": ["end_call_phrases", "max_call_seconds", "transfer_number", "transfer_line"]},
        ),
        (
            "Tools and memory",
            {
                "fields": ["tools", "memory_enabled", "memory_depth"],
                "description": "Transfer destinations are below; “transfer number” above is the destination "
                "“default”. Caller memory keeps callers' numbers, summaries and notes "
                "(see and erase it: Agents → Caller notes).",
            },
        ),
        (
            "Outbound calls",
            {
                "fields": [
                    "ring_timeout_seconds",
                    "machine_detection",
                    "voicemail_action",
                    "voicemail_message",
                ],
                "description": "Calls the agent places (action “Call a number…”, manage.py place_call, the API). "
                "The greeting, prompt, goodbye and voicemail message may use {{variables}} given with the call.",
            },
        ),
        ("After the call", {"fields": ["record_calls", "summary_instructions", "webhook_url", "webhook_secret"]}),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agent]:
        return super().get_queryset(request).annotate(_numbers=Count("phone_numbers"))

    @admin.display(description="numbers", ordering="_numbers")
    def number_count(self, agent: Agent) -> int:
        return agent._numbers

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if change and any(fs.has_changed() for fs in formsets if fs.model is not PhoneNumber):
            form.instance.bump_version()

    @admin.action(description="Duplicate selected agents (copies start disabled, without numbers)")
    def duplicate_agents(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        copies = [agent.duplicate() for agent in queryset]
        self.message_user(
            request,
            f"Created {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}: " + ", ".join(c.name for c in copies),
            messages.SUCCESS,
        )

    @admin.action(description="Call a number…")
    def call_a_number(self, request: HttpRequest, queryset: QuerySet[Agent]) -> HttpResponseRedirect | None:
        """The form that places an outbound call (calls.ui.place_call, by URL name: agents does not import calls)."""
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one agent to place a call with.", messages.ERROR)
            return None
        agent = queryset.get()
        return HttpResponseRedirect(reverse("call-place", args=[agent.pk]))


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    form = PhoneNumberForm
    list_display = ["number", "label", "agent", "enabled"]
    list_filter = ["enabled", "agent"]
    search_fields = ["number", "label", "agent__name"]
    autocomplete_fields = ["agent"]
