"""WebSocket routes of every app."""

from calls.routing import websocket_urlpatterns as calls_routes
from streaming.routing import websocket_urlpatterns as streaming_routes

websocket_urlpatterns = [*streaming_routes, *calls_routes]
