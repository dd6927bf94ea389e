"""Stream tokens out of logs: a Plivo stream URL (``/ws/plivo/<token>/``) carries a signed credential.

``RedactStreamTokens`` is a logging filter (on the console handler, settings.LOGGING); ``RedactingAccessLog`` is
daphne's access log with the same rule (daphne writes its access log straight to a stream, not through logging;
``voiceproject.serve`` installs it).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from daphne.access import AccessLogGenerator

STREAM_TOKEN = re.compile(r"(/ws/plivo/)[^/\s?\"']+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    """``text`` with every stream token replaced by ``[redacted]``."""
    return STREAM_TOKEN.sub(REDACTED, text) if "/ws/plivo/" in text else text


def redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactStreamTokens(logging.Filter):
    """Rewrites a record's message and string arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact_value(value) for key, value in record.args.items()}
        return True


class RedactingAccessLog(AccessLogGenerator):
    """Daphne's NCSA-style access log, stream tokens redacted."""

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None) -> None:
        super().write_entry(host, date, redact(request), status, length, ident, user)
