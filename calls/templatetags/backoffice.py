"""Template filters of the staff UI: durations in one unit rule, times with their zone."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from calls.ui.display import DASH, duration_ms, duration_s

register = template.Library()

register.filter("duration_ms", duration_ms)
register.filter("duration_s", duration_s)


@register.filter
def when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> SafeString | str:
    """A ``<time>`` in the server's zone, zone shown; static/calls/app.js rewrites it into the browser's zone."""
    if not isinstance(value, datetime):
        return DASH
    local = timezone.localtime(value)
    short = "short" if fmt.count(":") == 1 else "long"
    shown = f"{local.strftime(fmt)} {local.tzname()}"
    return format_html('<time datetime="{}" data-local="{}">{}</time>', value.isoformat(), short, shown)


@register.simple_tag
def effective_providers(agent) -> SafeString:
    """The agent's providers as its next call will run them, per stage, with the settings they make moot."""
    from streaming.providers.effective import effective

    get = (lambda name, default="": getattr(agent, name, default)) if agent is not None else (lambda n, d="": d)
    result = effective(
        get("stt_provider", "auto"),
        get("llm_provider", "auto"),
        get("tts_provider", "auto"),
        model=get("llm_model"),
        voice=get("voice"),
        prompt=get("system_prompt"),
    )
    rows = format_html_join("", '<li class="stage-{}">{}</li>', ((s.key, s.line) for s in result.stages))
    warnings = format_html_join("", '<li class="warning">{}</li>', ((w,) for w in result.warnings))
    return format_html(
        '<div class="module effective-providers" id="effective-providers"><h2>What runs on this agent\'s next call'
        '</h2><ul class="stages">{}</ul>{}</div>',
        rows,
        format_html('<ul class="warnings">{}</ul>', warnings) if result.warnings else "",
    )
