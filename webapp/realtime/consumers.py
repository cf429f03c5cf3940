from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .topics import BadTopic, can_subscribe, group_name

MAX_TOPICS = 64


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/events/`: `{"subscribe": topic}` / `{"unsubscribe": topic}`; events arrive as
    `{"topic", "seq", "type", "at", "data"}`."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.topics: set[str] = set()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for topic in getattr(self, "topics", set()):
            await self.channel_layer.group_discard(group_name(topic), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kw: Any) -> None:
        try:
            content = json.loads(text_data or (bytes_data or b"").decode("utf-8", "replace"))
        except ValueError:
            await self.send_json({"type": "error", "detail": "messages must be JSON"})
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "detail": "messages must be JSON objects"})
            return
        if "subscribe" in content:
            await self._subscribe(str(content["subscribe"]))
        elif "unsubscribe" in content:
            topic = str(content["unsubscribe"])
            if topic in self.topics:
                self.topics.discard(topic)
                await self.channel_layer.group_discard(group_name(topic), self.channel_name)
            await self.send_json({"type": "unsubscribed", "topic": topic})
        else:
            await self.send_json({"type": "error", "detail": "expected subscribe or unsubscribe"})

    async def _subscribe(self, topic: str) -> None:
        try:
            allowed = await database_sync_to_async(can_subscribe)(user=self.scope["user"], topic=topic)
        except BadTopic as exc:
            await self.send_json({"type": "error", "topic": topic, "detail": str(exc)})
            return
        if not allowed:
            await self.send_json({"type": "error", "topic": topic, "detail": "not allowed"})
            return
        if len(self.topics) >= MAX_TOPICS:
            await self.send_json({"type": "error", "topic": topic, "detail": "too many topics"})
            return
        self.topics.add(topic)
        await self.channel_layer.group_add(group_name(topic), self.channel_name)
        await self.send_json({"type": "subscribed", "topic": topic})

    async def nodus_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
