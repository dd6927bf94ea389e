"""Placing an outbound call: validate everything at once, store the Call as queued, dial in a Celery task.

``place_call`` is what the admin form, ``manage.py place_call`` and the REST API call. It refuses bad input with a
``PlaceCallError`` (nothing stored), else creates the Call (status ``queued``, a placeholder ``call_uuid`` that the
first webhook for the call replaces with Plivo's CallUUID) and queues ``calls.tasks.dial_call`` once committed.
``dial`` (run by that task) asks Plivo to place the call and stores its ``request_uuid``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agents import templating
from agents.models import Agent, PhoneNumber
from agents.phone import normalize_phone
from agents.versioning import call_snapshot
from calls.models import Call

log = logging.getLogger(__name__)

PLACEHOLDER_PREFIX = "queued-"
TIME_LIMIT_MARGIN_S = 60  # Plivo's time_limit: the agent's own limit ends the call first, Plivo's is the backstop


class PlaceCallError(Exception):
    """Why a call cannot be placed. ``code``: invalid_number, agent_disabled, no_caller_id, missing_variables,
    invalid_variables, not_configured; ``field``: the input at fault (to, from, agent, variables) or None."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


def is_placeholder(call_uuid: str) -> bool:
    return call_uuid.startswith(PLACEHOLDER_PREFIX)


def checked_number(raw: str, field: str) -> str:
    try:
        return normalize_phone(raw)
    except ValidationError as exc:
        raise PlaceCallError("invalid_number", exc.messages[0], field) from None


def checked_variables(variables: Mapping[str, object] | None) -> dict[str, str]:
    """Names like ``first_name``, values text (numbers are turned into text); bounded in number and size."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise PlaceCallError("invalid_variables", "Variables must be name/value pairs.", "variables")
    if len(variables) > templating.MAX_VARIABLES:
        raise PlaceCallError(
            "invalid_variables", f"At most {templating.MAX_VARIABLES} variables per call.", "variables"
        )
    checked: dict[str, str] = {}
    for name, value in variables.items():
        if not isinstance(name, str) or not templating.valid_name(name):
            raise PlaceCallError(
                "invalid_variables",
                f"“{name}” is not a variable name: letters, digits and _ . -, starting with a letter or _ "
                "(at most 64 characters).",
                "variables",
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise PlaceCallError("invalid_variables", f"The value of “{name}” must be text.", "variables")
        text = str(value)
        if len(text) > templating.MAX_VALUE or "\x00" in text:
            raise PlaceCallError(
                "invalid_variables",
                f"The value of “{name}” is too long (at most {templating.MAX_VALUE} characters) or has a NUL.",
                "variables",
            )
        checked[name] = text
    return checked


def caller_id(agent: Agent, from_number: str) -> PhoneNumber:
    """``from_number`` when it is one of the agent's enabled numbers, else the agent's first enabled number."""
    numbers = list(agent.phone_numbers.filter(enabled=True).order_by("id"))
    if from_number:
        wanted = checked_number(from_number, "from")
        chosen = next((n for n in numbers if n.number == wanted), None)
        if chosen is not None:
            return chosen
        log.info("Agent %s: %s is not one of its enabled numbers; using its first", agent.pk, wanted)
    if not numbers:
        raise PlaceCallError(
            "no_caller_id",
            f"Agent “{agent}” has no enabled phone number to call from: add one to the agent first.",
            "agent",
        )
    return numbers[0]


def missing_variables(snapshot: Mapping[str, object], variables: Mapping[str, str]) -> list[str]:
    lines = (str(snapshot.get(name) or "") for name in templating.TEMPLATED)
    return sorted(templating.find_all(lines) - set(variables))


def place_call(
    agent: Agent, to: str, variables: Mapping[str, str] | None = None, *, from_number: str = "", draft: bool = False
) -> Call:
    """Validate, store the call as queued and dial it once committed; ``PlaceCallError`` (nothing stored) if bad.
    It runs the agent's published version, or its draft with ``draft`` or from a test number (``takes_draft``)."""
    to_number = checked_number(to, "to")
    given = checked_variables(variables)
    if not agent.enabled:
        raise PlaceCallError("agent_disabled", f"Agent “{agent}” is disabled: enable it to place calls.", "agent")
    number = caller_id(agent, from_number)
    if not dialling_configured():
        raise PlaceCallError(
            "not_configured",
            "Outbound calls need PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN and PUBLIC_URL (the address Plivo calls back).",
        )
    snapshot, version = call_snapshot(agent, draft=draft or number.takes_draft)
    filled = templating.call_variables(to_number, number.number, timezone.localtime()) | given
    if absent := missing_variables(snapshot, filled):
        raise PlaceCallError(
            "missing_variables",
            f"The agent's lines use {', '.join('{{' + n + '}}' for n in absent)}: give "
            f"{'it a value' if len(absent) == 1 else 'each a value'} (e.g. --var {absent[0]}=…).",
            "variables",
        )
    with transaction.atomic():
        call = Call.objects.create(
            call_uuid=f"{PLACEHOLDER_PREFIX}{uuid.uuid4().hex}",
            direction=Call.Direction.OUTBOUND,
            status=Call.Status.QUEUED,
            agent=agent,
            agent_snapshot=snapshot,
            agent_version=version,
            phone_number=number,
            from_number=number.number,
            to_number=to_number,
            variables=given,
        )
        call_id = call.pk
        transaction.on_commit(lambda: queue_dial(call_id))
    return call


def dialling_configured() -> bool:
    return bool(settings.PLIVO_AUTH_ID and settings.PLIVO_AUTH_TOKEN and settings.PUBLIC_URL)


def queue_dial(call_id: int) -> None:
    """Queue the dial; with the broker down the call fails at once with the reason (never stays queued)."""
    from calls.tasks import dial_call

    try:
        dial_call.delay(call_id)
    except Exception as exc:
        log.warning("Could not queue dial_call(%s): %s", call_id, type(exc).__name__)
        fail_queued(call_id, "broker-unavailable", f"The call could not be queued ({type(exc).__name__}).")


PLACED_SALT = "calls.outbound.placed"


def placed_token(call_id: int) -> str:
    """The call's id, signed: Plivo's callbacks for a placed call carry it (``?placed=``), so the first one finds
    the call even before (or without) its ``request_uuid`` being stored."""
    return signing.Signer(salt=PLACED_SALT).sign_object(call_id)


def placed_call_id(token: str) -> int | None:
    try:
        value = signing.Signer(salt=PLACED_SALT).unsign_object(token) if token else None
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def callback_urls(call_id: int) -> dict[str, str]:
    base, query = settings.PUBLIC_URL.rstrip("/"), "?placed=" + placed_token(call_id)
    return {
        "answer_url": base + reverse("plivo-answer") + query,
        "hangup_url": base + reverse("plivo-hangup") + query,
        "ring_url": base + reverse("plivo-ring") + query,
        "machine_detection_url": base + reverse("plivo-machine-detection") + query,
    }


def dial_parameters(call: Call) -> dict[str, object]:
    """The keyword arguments of ``calls.create`` for a queued call."""
    from calls.config import call_config

    config = call_config(call.agent_snapshot)
    urls = callback_urls(call.pk)
    params: dict[str, object] = {
        "from_": call.from_number.lstrip("+"),
        "to_": call.to_number.lstrip("+"),
        "answer_url": urls["answer_url"],
        "answer_method": "POST",
        "hangup_url": urls["hangup_url"],
        "hangup_method": "POST",
        "ring_url": urls["ring_url"],
        "ring_method": "POST",
        "time_limit": config.max_call_seconds + TIME_LIMIT_MARGIN_S,
        "ring_timeout": int(call.agent_snapshot.get("ring_timeout_seconds") or 30),
    }
    if call.agent_snapshot.get("machine_detection", True):
        params |= {
            "machine_detection": "true",
            "machine_detection_url": urls["machine_detection_url"],
            "machine_detection_method": "POST",
        }
    return params


def fail_queued(call_id: int, cause: str, note: str) -> bool:
    """A queued call that could not be placed: failed, with why. False when it was no longer queued."""
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(pk=call_id, status=Call.Status.QUEUED).first()
        if call is None:
            return False
        call.status, call.hangup_cause, call.ended_at = Call.Status.FAILED, cause, timezone.now()
        call.add_error_note(note)
        call.save(update_fields=["status", "hangup_cause", "ended_at", "error_notes"])
        transaction.on_commit(lambda: finalize_soon(call_id))
    return True


def finalize_soon(call_id: int) -> None:
    from calls.plivo.webhooks import schedule_finalize

    schedule_finalize(call_id)
