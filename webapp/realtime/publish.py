"""Publish an event to a topic: per-topic increasing `seq` from Redis, fan-out through Channels.

Events are also persisted by their producers (job/run rows), so a client that misses one re-reads
state over REST; publishing is therefore best effort and never fails the caller.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from .topics import group_name, parse

log = logging.getLogger(__name__)
_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL)
    return _redis


def next_seq(topic: str) -> int:
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]  # type: ignore[index]
    key = f"{prefix}:seq:{topic}"
    return int(_client().incr(key))


def publish(topic: str, type_: str, data: dict[str, Any]) -> dict[str, Any] | None:
    parse(topic)
    try:
        event = {
            "topic": topic,
            "seq": next_seq(topic),
            "type": type_,
            "at": datetime.now(UTC).isoformat(),
            "data": data,
        }
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group_name(topic), {"type": "nodus.event", "event": event})
        return event
    except Exception:  # noqa: BLE001 - realtime is best effort; state is persisted elsewhere
        log.exception("could not publish %s on %s", type_, topic)
        return None
