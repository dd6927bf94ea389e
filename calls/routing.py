"""WebSocket routes of the call browser."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from calls.consumers import LiveCallConsumer

websocket_urlpatterns = [
    path(
        "ws/calls/<str:call_uuid>/live/", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveCallConsumer.as_asgi()))
    ),
]
