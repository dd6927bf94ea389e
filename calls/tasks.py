"""After-call work run by Celery."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def finalize_call(call_id: int) -> None:
    """Placeholder: analysis arrives with the after-call issue."""
    log.info("finalize_call(%s) scheduled", call_id)
