"""Placeholder consumer (the live engine replaces it)."""

from channels.generic.websocket import AsyncWebsocketConsumer


class PlivoStreamConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.close(code=4404)
