"""WebSocket routes of every app.

The Plivo media stream is not wrapped: it needs no session (middleware would run around each of its 50 frames per
second) and authenticates with the signed token in its URL. The live call page is a browser socket: origin-checked
and session-authenticated.
"""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from calls.ui.live_consumer import LiveCallConsumer
from streaming.consumers import PlivoStreamConsumer

websocket_urlpatterns = [
    re_path(r"^ws/plivo/(?P<token>[^/]+)/$", PlivoStreamConsumer.as_asgi()),
    path(
        "ws/calls/<str:call_uuid>/live/", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveCallConsumer.as_asgi()))
    ),
]
