"""Admin for tools (HTTP endpoints the agent may call), transfer destinations and FAQ entries that trigger a tool.

A tool's headers are write-only (the form never renders them back: only their names are shown), its signing secret
is shown once (when created or regenerated), then masked; its URL must pass the SSRF rule (agents/tool_targets.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agents.actions import Tool, TransferDestination, new_signing_secret
from agents.models import FaqEntry
from agents.tool_targets import validate_tool_url

HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
RESERVED_HEADERS = {"host", "content-length", "content-type", "x-signature", "x-timestamp", "x-call-uuid"}
RESERVED_HEADERS |= {"x-tool-call-id", "transfer-encoding", "connection"}
MAX_HEADERS = 20


def check_parameters(value: Any) -> dict:
    """A JSON Schema of an object (OpenAI function parameters); {} means "no arguments"."""
    if value in (None, "", {}):
        return {}
    if not isinstance(value, dict):
        raise ValidationError('The parameters must be a JSON object: a JSON Schema with "type": "object".')
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise ValidationError(
            f"Not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else "") + "."
        ) from None
    if value.get("type") != "object":
        raise ValidationError('The parameters must describe an object: add "type": "object" at the top level.')
    if not isinstance(value.get("properties", {}), dict):
        raise ValidationError('"properties" must be an object mapping each argument name to its schema.')
    return value


def parse_headers(text: str) -> dict[str, str]:
    """The headers textarea: a JSON object of header names to string values."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The headers are not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    if not isinstance(value, dict):
        raise ValidationError('The headers must be a JSON object, e.g. {"Authorization": "Bearer …"}.')
    if len(value) > MAX_HEADERS:
        raise ValidationError(f"At most {MAX_HEADERS} headers.")
    for name, header in value.items():
        if not HEADER_NAME.match(name):
            raise ValidationError(f"“{name[:100]}” is not a valid header name.")
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(f"{name} is set by the platform itself; choose another header.")
        if not isinstance(header, str) or not header.isprintable() or len(header) > 4000:
            raise ValidationError(f"The value of {name} must be a single line of text (at most 4000 characters).")
        try:
            header.encode("latin-1")
        except UnicodeEncodeError:
            raise ValidationError(f"The value of {name} has characters HTTP headers cannot carry.") from None
    return value


class ToolForm(forms.ModelForm):
    new_headers = forms.CharField(
        label="Headers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"Authorization": "Bearer …"}. Saved headers are never shown again: leave '
        "empty to keep them, enter {} to remove them.",
    )
    regenerate_secret = forms.BooleanField(
        label="Generate a new signing secret", required=False, help_text="The new secret is shown once, after saving."
    )

    class Meta:
        model = Tool
        exclude = ["headers", "signing_secret"]
        widgets = {"parameters": forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})}

    def clean_parameters(self) -> dict:
        return check_parameters(self.cleaned_data.get("parameters"))

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        validate_tool_url(url)
        return url

    def clean_new_headers(self) -> dict[str, str] | None:
        text = (self.cleaned_data.get("new_headers") or "").strip()
        return parse_headers(text) if text else None

    def save(self, commit: bool = True) -> Tool:
        tool = super().save(commit=False)
        if self.cleaned_data.get("new_headers") is not None:
            tool.headers = self.cleaned_data["new_headers"]
        if self.cleaned_data.get("regenerate_secret"):
            tool.signing_secret = new_signing_secret()
        if commit:
            tool.save()
            self.save_m2m()
        return tool


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    form = ToolForm
    list_display = ["name", "method", "url", "timeout_seconds", "on_failure", "updated_at"]
    search_fields = ["name", "description", "url"]
    readonly_fields = ["header_names", "masked_secret", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "parameters"]}),
        ("Request", {"fields": ["method", "url", "header_names", "new_headers", "timeout_seconds"]}),
        ("Signature", {"fields": ["masked_secret", "regenerate_secret"]}),
        ("While waiting, and on failure", {"fields": ["wait_line", "on_failure", "failure_line"]}),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="saved headers")
    def header_names(self, tool: Tool) -> str:
        names = sorted(tool.headers) if isinstance(tool.headers, dict) else []
        return ", ".join(names) if names else "—"

    @admin.display(description="signing secret")
    def masked_secret(self, tool: Tool) -> str:
        if not tool.pk:
            return "Generated when the tool is saved (shown once)."
        return "•" * 12 + tool.signing_secret[-4:]

    def save_model(self, request: HttpRequest, obj: Tool, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or form.cleaned_data.get("regenerate_secret"):
            self.message_user(
                request,
                f"Signing secret of {obj.name}: {obj.signing_secret} — copy it now, it is not shown again. "
                "Receivers verify X-Signature = hex HMAC-SHA256 of “<X-Timestamp>.<body>” with it.",
                messages.WARNING,
            )


def check_destination(value: str) -> str:
    """An E.164 number (as people type it) or a SIP URI."""
    value = (value or "").strip()
    if value.lower().startswith(("sip:", "sips:")):
        if not re.match(r"^sips?:[^@\s]+@[^@\s]+$", value, re.IGNORECASE):
            raise ValidationError(f"“{value}” is not a SIP URI such as sip:alice@example.com.")
        return value
    from agents.phone import normalize_phone

    return normalize_phone(value)


class TransferDestinationForm(forms.ModelForm):
    class Meta:
        model = TransferDestination
        fields = ["name", "destination", "description", "warm"]

    def clean_destination(self) -> str:
        return check_destination(self.cleaned_data["destination"])


class TransferDestinationInline(admin.TabularInline):
    model = TransferDestination
    form = TransferDestinationForm
    extra = 0
    fields = ["name", "destination", "description", "warm"]


class FaqEntryForm(forms.ModelForm):
    class Meta:
        model = FaqEntry
        fields = ["question", "keywords", "answer", "position", "tool", "tool_pattern"]

    def clean(self) -> dict:
        data = super().clean()
        pattern, tool = data.get("tool_pattern") or "", data.get("tool")
        if not pattern:
            return data
        if tool is None:
            self.add_error("tool_pattern", "A pattern needs a tool: choose the tool its named groups are for.")
            return data
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            self.add_error("tool_pattern", f"Not a valid regular expression: {exc}.")
            return data
        properties = (tool.parameters or {}).get("properties") or {}
        unknown = sorted(set(compiled.groupindex) - set(properties))
        if unknown:
            known = ", ".join(sorted(properties)) or "none"
            self.add_error(
                "tool_pattern",
                f"Named group(s) {', '.join(unknown)} are not parameters of {tool.name} (its parameters: {known}).",
            )
        return data
