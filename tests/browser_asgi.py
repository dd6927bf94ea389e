"""The project's ASGI app as the browser test serves it with daphne: plus static files, plus a test-only hook.

``POST /__test__/publish/`` with ``{"call_uuid", "kind", "data"}`` publishes a live event through the channel
layer *inside the daphne process*, so the in-memory layer works without Redis (with REDIS_URL it goes
through Redis like in production). Only this test module is ever served with the hook; production uses
``voiceproject.asgi:application``.
"""

from __future__ import annotations

import json

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from voiceproject.asgi import application as project_application

HOOK_PATH = "/__test__/publish/"
served = ASGIStaticFilesHandler(project_application)


async def read_body(receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def publish_hook(receive, send) -> None:
    from calls.live import publish

    payload = json.loads(await read_body(receive))
    await publish(payload["call_uuid"], payload["kind"], payload["data"])
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and scope["path"] == HOOK_PATH and scope["method"] == "POST":
        await publish_hook(receive, send)
    else:
        await served(scope, receive, send)
