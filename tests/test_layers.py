"""The apps' import direction, read from the source with ``ast`` (no import runs), and a size limit per module.

    agents                 ← imports no project app
    calls                  → agents, streaming.providers
    streaming              → calls, agents
    streaming.providers    → a leaf: third-party SDKs, django.conf and streaming.providers.* only

Every import counts: ``import x``, ``from x import y``, relative imports, and imports inside functions or under
``if TYPE_CHECKING:``. The checker is a plain function over a directory, so the tests below also prove that it
finds what it should in a synthetic tree.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("agents", "calls", "streaming")
SIZED = ("agents", "calls", "streaming", "voiceproject", "bench", "tests")
MAX_LINES = 400


@dataclass(frozen=True)
class Rule:
    """Modules in ``package`` (and below) may not import ``forbidden`` (and below), except ``allowed`` (and below)."""

    name: str
    package: str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()

    def governs(self, module: str) -> bool:
        return _within(module, (self.package,))

    def breaks(self, imported: str) -> bool:
        return _within(imported, self.forbidden) and not _within(imported, self.allowed)

    def ambiguous(self, imported: str) -> bool:
        """``imported`` is a parent of an allowed package (``from streaming import providers``): judge the names."""
        return any(allowed.startswith(imported + ".") for allowed in self.allowed)


@dataclass(frozen=True)
class Violation:
    file: str  # relative to the checked root, with "/"
    line: int
    imported: str
    rule: str


RULES = (
    Rule("agents imports no project app", "agents", ("calls", "streaming", "voiceproject")),
    Rule(
        "calls imports agents and streaming.providers only", "calls", ("streaming",), allowed=("streaming.providers",)
    ),
    Rule(
        "streaming.providers is a leaf",
        "streaming.providers",
        ("agents", "calls", "streaming", "voiceproject"),
        allowed=("streaming.providers",),
    ),
)


def _within(module: str, packages: Sequence[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _module_name(path: Path, root: Path) -> tuple[str, str]:
    """(module, package it is in) of a .py file under ``root``: ``a/b/c.py`` → a.b.c in a.b, ``a/b/__init__.py`` → a.b
    in a.b."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _resolve(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of a ``from … import``. A relative import climbing above the top package resolves from
    the root (Python itself would refuse it, the checker still reports where it points)."""
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    base = parts[: max(0, len(parts) - (node.level - 1))]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(tree: ast.AST, package: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """Every import anywhere in ``tree``: (line, absolute module, imported names; () for ``import x``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, _resolve(node, package), tuple(alias.name for alias in node.names)


def python_files(root: Path, packages: Sequence[str]) -> Iterator[Path]:
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.relative_to(root).parts and "__pycache__" not in path.parts:
                yield path


def check_layers(root: Path, rules: Sequence[Rule] = RULES, packages: Sequence[str] = APPS) -> list[Violation]:
    """Every import under ``root``/``packages`` that breaks one of ``rules``, in file and line order."""
    found: list[Violation] = []
    for path in python_files(root, packages):
        module, package = _module_name(path, root)
        applicable = [rule for rule in rules if rule.governs(module)]
        if not applicable:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, imported, names in imports_of(tree, package):
            for rule in applicable:
                targets = [f"{imported}.{n}" for n in names] if names and rule.ambiguous(imported) else [imported]
                for target in targets:
                    violation = Violation(path.relative_to(root).as_posix(), line, target, rule.name)
                    if rule.breaks(target) and violation not in found:
                        found.append(violation)
    return sorted(found, key=lambda v: (v.file, v.line, v.imported, v.rule))


def oversized_modules(root: Path, packages: Sequence[str] = SIZED, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(file, lines) of every module over ``limit`` lines (migrations excepted)."""
    sizes = ((path, len(path.read_text(encoding="utf-8").splitlines())) for path in python_files(root, packages))
    return [(path.relative_to(root).as_posix(), lines) for path, lines in sizes if lines > limit]


# ---- the project ----
def test_the_apps_import_in_one_direction() -> None:
    violations = check_layers(ROOT)
    assert not violations, "imports against the layering:\n" + "\n".join(
        f"  {v.file}:{v.line} imports {v.imported} ({v.rule})" for v in violations
    )


def test_no_module_is_over_the_size_limit() -> None:
    offenders = oversized_modules(ROOT)
    assert not offenders, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(
        f"  {file}: {lines}" for file, lines in offenders
    )


# ---- the checker itself, on a synthetic tree ----
SYNTHETIC = {
    "agents/__init__.py": "",
    "agents/models.py": "from django.db import models\nfrom . import validators\n",
    "agents/bad.py": "from calls.models import Call\n",
    "agents/relative.py": "from ..calls import y\n",
    "agents/lazy.py": "import os\n\n\ndef f():\n    import streaming.session\n\n    return os\n",
    "agents/migrations/0001_initial.py": "from calls.models import Call\n",
    "calls/__init__.py": "",
    "calls/ok.py": (
        "import agents.models\n"
        "from agents.models import Agent\n"
        "from streaming.providers.base import Message\n"
        "from streaming import providers\n"
        "import streaming.providers.registry\n"
    ),
    "calls/typed.py": (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from streaming.pipeline import CallRunner\n"
    ),
    "calls/mixed.py": "from streaming import pipeline, providers\nimport streaming\n",
    "calls/plivo/__init__.py": "from ..records import save\nfrom ...streaming import session\n",
    "streaming/__init__.py": "",
    "streaming/pipeline.py": "from agents.models import Agent\nfrom calls import records\nfrom .providers import x\n",
    "streaming/providers/__init__.py": "",
    "streaming/providers/base.py": "from django.conf import settings\nimport httpx\nfrom . import registry\n",
    "streaming/providers/x.py": "from calls import records\n",
    "streaming/providers/azure/__init__.py": "from .. import registry\nfrom . import stt\n",
    "streaming/providers/azure/stt.py": (
        "from ..base import Message\n"
        "from streaming.providers.azure import config\n"
        "from ...pipeline import CallRunner\n"
        "from .. import registry\n"
    ),
    "streaming/providers/settings_user.py": "import voiceproject.settings\nfrom agents import models\n",
}


@pytest.fixture
def synthetic_tree(tmp_path: Path) -> Path:
    for name, source in SYNTHETIC.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path


def test_the_checker_finds_every_kind_of_import_against_the_rules(synthetic_tree: Path) -> None:
    agents, calls, leaf = (rule.name for rule in RULES)
    assert check_layers(synthetic_tree) == [
        Violation("agents/bad.py", 1, "calls.models", agents),
        Violation("agents/lazy.py", 5, "streaming.session", agents),
        Violation("agents/relative.py", 1, "calls", agents),
        Violation("calls/mixed.py", 1, "streaming.pipeline", calls),
        Violation("calls/mixed.py", 2, "streaming", calls),
        Violation("calls/plivo/__init__.py", 2, "streaming.session", calls),
        Violation("calls/typed.py", 4, "streaming.pipeline", calls),
        Violation("streaming/providers/azure/stt.py", 3, "streaming.pipeline", leaf),
        Violation("streaming/providers/settings_user.py", 1, "voiceproject.settings", leaf),
        Violation("streaming/providers/settings_user.py", 2, "agents", leaf),
        Violation("streaming/providers/x.py", 1, "calls", leaf),
    ]


def test_the_checker_takes_its_rules_as_an_argument(synthetic_tree: Path) -> None:
    only_leaf = [rule for rule in RULES if rule.package == "streaming.providers"]
    assert [(v.file, v.imported) for v in check_layers(synthetic_tree, only_leaf)] == [
        ("streaming/providers/azure/stt.py", "streaming.pipeline"),
        ("streaming/providers/settings_user.py", "voiceproject.settings"),
        ("streaming/providers/settings_user.py", "agents"),
        ("streaming/providers/x.py", "calls"),
    ]
    assert check_layers(synthetic_tree, [Rule("nothing", "agents", ("nowhere",))]) == []


def test_the_size_check_lists_the_offenders(tmp_path: Path) -> None:
    for name, lines in {"tests/big.py": 401, "tests/ok.py": 400, "bench/migrations/0001_big.py": 900}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n" * lines)
    assert oversized_modules(tmp_path, ("tests", "bench")) == [("tests/big.py", 401)]
