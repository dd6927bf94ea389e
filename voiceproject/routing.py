"""WebSocket routes of every app."""

from streaming.routing import websocket_urlpatterns as streaming_routes

websocket_urlpatterns = [*streaming_routes]
