"""Callbacks from a call's parts back to the runner that owns them, without a reference cycle.

The runner holds its parts (listener, speaker, task set); a part holding one of the runner's bound methods would
hold the runner too, and every finished call would wait in a cycle for the garbage collector's full pass (see
``streaming/cancelled_tasks.py`` for why that pause matters). The runner hands its parts ``weak_callback(self.m)``
instead: the runner and its parts are freed by reference counting as soon as the consumer lets go of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def weak_callback(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` (a bound method) called through a weak reference to its object. Calling it after the object is
    gone raises ``ReferenceError``: the parts never outlive their runner, so that would be a bug, not a state."""
    owner = weakref.ref(method.__self__)  # type: ignore[attr-defined]  # a bound method, as the docstring says
    func = method.__func__  # type: ignore[attr-defined]  # kept, not a bound method (it would hold the object)
    name = method.__qualname__

    def call(*args: P.args, **kwargs: P.kwargs) -> R:  # per audio event: no bound method built per call
        obj = owner()
        if obj is None:
            raise ReferenceError(f"{name}: its object is gone")
        return func(obj, *args, **kwargs)

    return call
