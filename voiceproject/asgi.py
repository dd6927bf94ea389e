"""ASGI entry point: HTTP (Django) and WebSockets (Channels) in one application."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

if settings.DEBUG or settings.SERVE_STATIC:  # production: collectstatic and let the proxy serve STATIC_ROOT
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from streaming.providers.registry import preload  # noqa: E402
from voiceproject.routing import websocket_urlpatterns  # noqa: E402

preload()  # the SDKs the agents' "auto" providers use, imported before the first call rather than during it

from calls.sweeper_loop import StartsSweeper  # noqa: E402

# What is loaded by now (Django, the SDKs, the app: most of the heap) lives as long as the process. Frozen, the
# cyclic collector's full passes stop walking it while calls run: each pass holds the GIL, and so every call's
# audio (bench, 100 calls on one process: a 145 ms pause became 28 ms; BENCHMARKS.md).
gc.collect()
gc.freeze()

# Without Celery beat (eager Celery), the first request starts the sweeper inside this process.
application = StartsSweeper(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # No session middleware around every socket: the Plivo stream needs none (it would wrap each of its
            # 50 frames per second); the live page adds AuthMiddlewareStack itself (voiceproject/routing.py).
            "websocket": URLRouter(websocket_urlpatterns),
        }
    )
)
