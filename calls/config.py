"""The call's configuration, parsed once from the agent snapshot stored on the call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.models import complete_snapshot
from streaming.providers.config import CallConfig


def call_config(snapshot: Mapping[str, Any] | None) -> CallConfig:
    """The ``CallConfig`` of a stored snapshot; fields it lacks take the agent model's defaults."""
    return CallConfig.from_snapshot(complete_snapshot(dict(snapshot or {})))
