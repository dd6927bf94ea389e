"""The one ``calls.create`` of a queued outbound call, and how its failures are told apart.

Before the REST request the call's ``request_uuid`` is set to ``dialling-…`` by a conditional UPDATE (only from
""): a second dial of the same call (a redelivered task, a retry, a reconciler, a race) finds it taken and does
nothing. Afterwards it holds Plivo's request uuid. So a call's state says what happened:

- ``request_uuid`` "" → ``calls.create`` certainly never ran (never tried, or no connection could be made): it may
  be dialled again;
- ``dialling-…`` → it may have run (a crash, a timeout, a 5xx: Plivo's answer was lost): never dialled again
  blindly. If Plivo did place it, its first webhook still finds the call (the callback URLs carry the call's signed
  id: ``calls.outbound.callback_urls``); if none comes, the sweeper fails it;
- Plivo's uuid → placed; the hang-up callback says how it ended.

Used by the single calls' task (``calls.tasks.dial_call``) and by campaigns (``calls.campaigns.dial``).
"""

from __future__ import annotations

import logging
import uuid

import requests
from urllib3.exceptions import NewConnectionError

from calls.models import Call
from calls.outbound import dial_parameters, fail_queued
from calls.plivo import rest

log = logging.getLogger(__name__)

DIALLING = "dialling-"
REFUSED, UNREACHABLE, UNCERTAIN = "plivo-refused", "plivo-unreachable", "dial-uncertain"
DIALLED, SKIPPED = "dialled", "skipped"


def dial_once(call_id: int) -> tuple[str, str]:
    """Place a queued call at most once: (result, why). Results: "dialled"; "refused" (the call is failed with
    Plivo's reason); "unreachable" (certainly not sent: the call is still queued and may be dialled again);
    "uncertain" (it may have been placed: still queued, marked, never dialled again); "skipped" (not queued, or
    already being dialled)."""
    marker = f"{DIALLING}{uuid.uuid4().hex}"
    if not Call.objects.filter(pk=call_id, status=Call.Status.QUEUED, request_uuid="").update(request_uuid=marker):
        return SKIPPED, "not queued, or already dialled"
    call = Call.objects.get(pk=call_id)
    try:
        request_uuid = rest.place_call(dial_parameters(call))
    except rest.PlivoRejected as exc:  # refused: certainly no call was created
        Call.objects.filter(pk=call_id, request_uuid=marker).update(request_uuid="")
        fail_queued(call_id, REFUSED, str(exc))
        return "refused", str(exc)
    except rest.PlivoApiError as exc:
        if certainly_not_sent(exc):
            Call.objects.filter(pk=call_id, request_uuid=marker).update(request_uuid="")
            return "unreachable", f"Plivo could not be reached: {exc}"
        return "uncertain", f"Plivo's answer to calls.create was lost ({exc}): the call may have been placed."
    Call.objects.filter(pk=call_id, request_uuid=marker).update(request_uuid=request_uuid[:128])
    log.info("Call %s dialled: request_uuid %s", call_id, request_uuid)
    return DIALLED, request_uuid


def certainly_not_sent(exc: Exception) -> bool:
    """The request never reached Plivo: no connection could be made (refused, or a connect timeout)."""
    cause = exc.__cause__
    if isinstance(cause, requests.ConnectTimeout):
        return True
    reason = (
        getattr(cause.args[0], "reason", None) if isinstance(cause, requests.ConnectionError) and cause.args else None
    )
    return isinstance(reason, NewConnectionError)
