"""For the ``gc-census`` probe (bench/whatif.py): the shortest reference cycles through one object among the
garbage the collector found, each as a readable chain (``CallRunner.speaker Speaker._dispatch method…``)."""

from __future__ import annotations

import gc
from collections import deque
from itertools import pairwise


def name(obj: object) -> str:
    """A type name, with the code's name for frames, functions, methods, coroutines and tasks."""
    kind = type(obj).__name__
    if kind == "frame":
        return f"frame:{obj.f_code.co_qualname}"  # type: ignore[attr-defined]
    if kind in ("method", "function", "coroutine", "async_generator", "generator"):
        return f"{kind}:{getattr(obj, '__qualname__', '?')}"
    if kind == "Task" and hasattr(obj, "get_coro"):
        return f"Task:{getattr(obj.get_coro(), '__qualname__', '?')}"
    return kind


def _edge(src: object, dst: object) -> str:
    """How ``src`` refers to ``dst``: an attribute, a key, a frame's local, or just an arrow."""
    attributes = getattr(src, "__dict__", None)
    if isinstance(attributes, dict):
        found = next((f".{key}" for key, value in attributes.items() if value is dst), None)
        if found:
            return found
    if isinstance(src, dict):
        found = next((f"[{key!r}]"[:40] for key, value in src.items() if value is dst), None)
        if found:
            return found
    kind = type(src).__name__
    if kind == "method":
        return ".__self__" if src.__self__ is dst else ".__func__"  # type: ignore[attr-defined]
    if kind == "cell":
        return ".cell_contents"
    if kind == "frame":
        found = next((f"<local {k}>" for k, v in src.f_locals.items() if v is dst), None)  # type: ignore[attr-defined]
        if found:
            return found
    return "->"


def cycles_through(root: object, garbage: list, limit: int = 6) -> list[str]:
    """Breadth-first from each of ``root``'s referents (within ``garbage``) back to ``root``: the shortest cycles."""
    inside = {id(obj) for obj in garbage}
    found: set[str] = set()
    for first in gc.get_referents(root):
        if id(first) not in inside:
            continue
        previous: dict[int, object | None] = {id(first): None}
        queue, last = deque([first]), None
        while queue and last is None:
            obj = queue.popleft()
            for referent in gc.get_referents(obj):
                if referent is root:
                    last = obj
                    break
                if id(referent) in inside and id(referent) not in previous:
                    previous[id(referent)] = obj
                    queue.append(referent)
        if last is None:
            continue
        path = [last]
        while (before := previous[id(path[-1])]) is not None:
            path.append(before)
        chain = [root, *reversed(path), root]
        found.add(" ".join(f"{name(a)}{_edge(a, b)}" for a, b in pairwise(chain)))
    return sorted(found, key=len)[:limit]
