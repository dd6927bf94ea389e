"""Field validators with messages an operator can act on."""

import re

from django.core.exceptions import ValidationError

from agents.webhook_targets import WebhookTargetError, checked_addresses

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
BCP47 = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def validate_e164(value: str) -> None:
    if not E164.match(value or ""):
        raise ValidationError(
            "%(value)s is not a phone number in E.164 format: a '+', the country code and the number, "
            "digits only, e.g. +14155550100.",
            code="invalid_e164",
            params={"value": value},
        )


def validate_language(value: str) -> None:
    if not BCP47.match(value or ""):
        raise ValidationError(
            "%(value)s is not a BCP-47 language tag such as en-US or fr-FR.",
            code="invalid_language",
            params={"value": value},
        )


def validate_identifier(value: str) -> None:
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", value or ""):
        raise ValidationError(
            "%(value)s must be lower-case letters, digits and underscores, starting with a letter.",
            code="invalid_identifier",
            params={"value": value},
        )


def validate_webhook_url(value: str) -> None:
    """An http(s) URL whose host resolves to public addresses only (``agents.webhook_targets``)."""
    if not value:
        return
    try:
        checked_addresses(value)
    except WebhookTargetError as exc:
        raise ValidationError(str(exc), code="unsafe_webhook_url") from None
