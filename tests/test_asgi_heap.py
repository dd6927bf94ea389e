"""The served application freezes what it loaded at start out of the cyclic collector's full passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CODE = """
import gc, json
before = gc.get_freeze_count()
import voiceproject.asgi
print(json.dumps([before, gc.get_freeze_count(), len(gc.get_objects())]))
"""


def test_loading_the_application_freezes_the_startup_heap():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DJANGO_"))} | {"DJANGO_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    before, frozen, still_tracked = json.loads(result.stdout.strip().splitlines()[-1])
    assert before == 0
    assert frozen > 50_000  # Django, the SDKs and the app (~145 000 objects measured)
    assert still_tracked < frozen / 10  # what a full collection still walks: only what was made after the freeze
