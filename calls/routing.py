"""WebSocket routes of the call browser."""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from calls.consumers import LiveCallConsumer

websocket_urlpatterns = [
    path("ws/calls/<str:call_uuid>/live/", AllowedHostsOriginValidator(LiveCallConsumer.as_asgi())),
]
