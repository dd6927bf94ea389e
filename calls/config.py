"""The call's configuration, parsed once from the agent snapshot stored on the call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.models import complete_snapshot
from agents.templating import fill_lines
from streaming.providers.config import CallConfig


def call_config(snapshot: Mapping[str, Any] | None, variables: Mapping[str, Any] | None = None) -> CallConfig:
    """The ``CallConfig`` of a stored snapshot; fields it lacks take the agent model's defaults. With the call's
    ``variables``, its ``{{placeholders}}`` are filled (``agents.templating``): no literal ``{{name}}`` is spoken."""
    return CallConfig.from_snapshot(fill_lines(complete_snapshot(dict(snapshot or {})), variables or {}))
