"""Plivo's REST API (synchronous SDK: call these off the event loop, e.g. with asyncio.to_thread)."""

from __future__ import annotations

import logging

import plivo
import plivo.rest.client as plivo_client
import requests
from django.conf import settings
from plivo import exceptions as plivo_errors

log = logging.getLogger(__name__)


class PlivoApiError(Exception):
    pass


def configured() -> bool:
    return bool(settings.PLIVO_AUTH_ID and settings.PLIVO_AUTH_TOKEN)


def rest_client() -> plivo.RestClient:
    if not configured():
        raise PlivoApiError("PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN are not set")
    if settings.PLIVO_API_URL:  # a Plivo-compatible API (self-hosted fake, tests): the SDK keeps it in constants
        base = settings.PLIVO_API_URL + "/v1/Account"
        for name in (
            "PLIVO_API_BASE_URI",
            "API_VOICE_BASE_URI",
            "API_VOICE_BASE_URI_FALLBACK_1",
            "API_VOICE_BASE_URI_FALLBACK_2",
        ):
            setattr(plivo_client, name, base)
    return plivo.RestClient(settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN, timeout=5)


def hangup_call(call_uuid: str) -> str:
    """End a live call: "hung-up", or "already-ended" when Plivo no longer knows it (404)."""
    try:
        rest_client().calls.delete(call_uuid)
    except plivo_errors.ResourceNotFoundError:
        return "already-ended"
    except (plivo_errors.PlivoRestError, requests.RequestException) as exc:
        raise PlivoApiError(f"hangup of {call_uuid} failed: {exc}") from exc
    return "hung-up"


def transfer_call(call_uuid: str, aleg_url: str) -> str:
    """Replace the call's XML with ``aleg_url`` (which dials the transfer number)."""
    try:
        response = rest_client().calls.update(call_uuid, legs="aleg", aleg_url=aleg_url, aleg_method="POST")
    except plivo_errors.ResourceNotFoundError:
        return "already-ended"
    except (plivo_errors.PlivoRestError, requests.RequestException) as exc:
        raise PlivoApiError(f"transfer of {call_uuid} failed: {exc}") from exc
    log.info("Transfer of %s requested: %s", call_uuid, response)
    return "transferred"


class PlivoRejected(PlivoApiError):
    """Plivo refused the request (bad number, authentication, permissions): trying again will not help."""


REJECTED = (
    plivo_errors.ValidationError,
    plivo_errors.InvalidRequestError,
    plivo_errors.AuthenticationError,
    plivo_errors.ForbiddenError,
    plivo_errors.ResourceNotFoundError,
)


def place_call(params: dict[str, object]) -> str:
    """Ask Plivo to place a call (``calls.create(**params)``); its ``request_uuid``."""
    try:
        response = rest_client().calls.create(**params)
    except REJECTED as exc:
        raise PlivoRejected(f"Plivo refused the call: {exc}") from exc
    except (plivo_errors.PlivoRestError, requests.RequestException) as exc:
        raise PlivoApiError(f"placing the call failed: {type(exc).__name__}: {exc}") from exc
    request_uuid = getattr(response, "request_uuid", "")
    if isinstance(request_uuid, list):
        request_uuid = request_uuid[0] if request_uuid else ""
    if not request_uuid:
        raise PlivoApiError(f"Plivo's answer has no request_uuid: {response}")
    return str(request_uuid)
