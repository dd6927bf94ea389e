"""Admin for agents, their knowledge and phone numbers."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from agents.listen_admin import LISTEN_NEEDS_TARGET, alert_phrases_value, listen_dial_value
from agents.models import Agent, ExtractionField, FaqEntry, PhoneNumber
from agents.phone import normalize_phone
from agents.tool_admin import FaqEntryForm, TransferDestinationInline
from agents.validators import validate_webhook_url
from agents.version_admin import AgentVersionsMixin


class PhoneNumberForm(forms.ModelForm):
    """Numbers as people write them ("+1 (415) 555-0199") are stored as E.164; no country code is refused."""

    number = forms.CharField(max_length=64, help_text="With its country code, e.g. +1 415 555 0100 (stored as E.164).")

    class Meta:
        model = PhoneNumber
        fields = "__all__"

    def clean_number(self) -> str:
        return normalize_phone(self.cleaned_data["number"])

    def clean_listen_dial(self) -> str:
        return listen_dial_value(self.cleaned_data.get("listen_dial", ""))

    def clean_listen_caller_id(self) -> str:
        value = (self.cleaned_data.get("listen_caller_id") or "").strip()
        return normalize_phone(value) if value else ""

    def clean_alert_phrases(self) -> str:
        return alert_phrases_value(self.cleaned_data.get("alert_phrases", ""))

    def clean(self) -> dict:
        data = super().clean()
        listening = data.get("mode") == PhoneNumber.Mode.LISTEN
        if listening and not data.get("listen_dial") and "listen_dial" not in self.errors:
            self.add_error("listen_dial", LISTEN_NEEDS_TARGET)
        return data


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    form = PhoneNumberForm
    extra = 1
    fields = ["number", "label", "enabled"]  # the mode and listen settings: the Phone numbers admin


class FaqEntryInline(admin.StackedInline):
    model = FaqEntry
    form = FaqEntryForm
    extra = 0
    fields = [("question", "keywords"), "answer", "position", ("tool", "tool_pattern")]


class ExtractionFieldInline(admin.TabularInline):
    model = ExtractionField
    extra = 0
    fields = ["name", "type", "description"]


LONG_LINES = ("greeting", "goodbye_message", "reprompt_text", "fallback_line", "transfer_line", "voicemail_message")


class AgentForm(forms.ModelForm):
    webhook_secret = forms.CharField(
        max_length=64,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: HMAC-SHA256 key of the X-Signature header. Type a new one to replace it; leave empty "
        "to keep the current one.",
    )

    class Meta:
        model = Agent
        fields = "__all__"
        widgets = {name: forms.Textarea(attrs={"rows": 2, "cols": 80}) for name in LONG_LINES}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.webhook_secret if self.instance.pk else ""
        if current and "webhook_secret" in self.fields:
            self.fields["webhook_secret"].help_text += f" Current one ends in …{current[-4:]}."

    def clean_webhook_secret(self) -> str:
        """Empty keeps the stored secret (a new agent keeps its generated one)."""
        return self.cleaned_data.get("webhook_secret") or self.instance.webhook_secret

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
class AgentAdmin(AgentVersionsMixin, admin.ModelAdmin):  # versions: history, diff, restore, publish
    form = AgentForm
    list_display = ["name", "enabled", "language", "number_count", "version", "updated_at"]  # + calls/agent_list.py
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
                ],
                "classes": ["collapse"],
            },
        ),
        (
            "Ending and transfer",
            {
                "fields": ["end_call_phrases", "max_call_seconds", "transfer_number", "transfer_line"],
                "classes": ["collapse"],
            },
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
                "classes": ["collapse"],
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
    list_display = ["number", "label", "agent", "mode", "enabled"]
    list_filter = ["enabled", "mode", "agent"]
    fieldsets = [
        (None, {"fields": ["number", "label", "agent", "enabled", "takes_draft", "mode"]}),
        (
            "Listen mode: people answer; live transcript, sentiment and alerts",
            {
                "classes": ["collapse"],
                "description": "Used when the mode is “Listen”. The number's agent still supplies the language, the "
                "speech-to-text provider, the summary and extraction settings and the webhook.",
                "fields": [
                    "listen_dial",
                    "listen_caller_id",
                    "listen_timeout_seconds",
                    "listen_no_answer",
                    "listen_voicemail_message",
                    "alert_phrases",
                ],
            },
        ),
    ]
    search_fields = ["number", "label", "agent__name"]
    autocomplete_fields = ["agent"]
