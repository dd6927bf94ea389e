"""System checks for settings that must not pass silently in production (DEBUG off).

They run with every ``manage.py`` command that checks (``check``, ``migrate``, ``runserver``, ``seed_demo``…), so a
production deployment with a missing or public secret key, or with unauthenticated Plivo webhooks, stops with the
message below. At runtime the same settings fail closed: the key is replaced (voiceproject/env.py ``secret_key``) and
unsigned webhooks are refused (calls/plivo/signatures.py).
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

SECRET_KEY_MESSAGES = {
    "missing": "DJANGO_SECRET_KEY is not set.",
    "development": "DJANGO_SECRET_KEY is the public development key from the source code.",
}
SECRET_KEY_HINT = (
    "Set DJANGO_SECRET_KEY to a long random value, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (DJANGO_DEBUG=1 is for development only)."
)
UNSIGNED_MESSAGE = "PLIVO_AUTH_TOKEN is not set, so Plivo webhooks would not be authenticated."
UNSIGNED_HINT = (
    "Set PLIVO_AUTH_TOKEN to your Plivo auth token, or set PLIVO_ALLOW_UNSIGNED_WEBHOOKS=1 to accept unsigned "
    "webhooks on purpose (e.g. behind a gateway that authenticates them)."
)


@register(Tags.security)
def secret_key_is_secret(app_configs, **kwargs) -> list[CheckMessage]:
    problem = settings.SECRET_KEY_PROBLEM
    if not problem:
        return []
    return [Error(SECRET_KEY_MESSAGES[problem], hint=SECRET_KEY_HINT, id="voiceproject.E001")]


@register(Tags.security)
def plivo_webhooks_are_signed(app_configs, **kwargs) -> list[CheckMessage]:
    if settings.DEBUG or settings.PLIVO_AUTH_TOKEN or settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS:
        return []
    return [Error(UNSIGNED_MESSAGE, hint=UNSIGNED_HINT, id="voiceproject.E002")]
