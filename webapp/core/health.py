"""`GET /healthz`: state of database, broker, channel layer and workers."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _database() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("select 1")
        cur.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def _broker() -> dict[str, Any]:
    from webapp.config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"ok": True}


def _channel_layer() -> dict[str, Any]:
    """A round trip through a layer of its own: the process-wide one keeps asyncio state bound
    to the event loop that last received on it (channels_redis's receive lock and loop), so a
    probe through it can fail while the layer itself is fine."""
    if DEFAULT_CHANNEL_LAYER not in channel_layers.configs:
        return {"ok": False, "error": "no channel layer configured"}
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

    async def ping() -> dict[str, Any]:
        try:
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "health.ping"})
            return dict(await asyncio.wait_for(layer.receive(channel), timeout=5))
        finally:
            close = getattr(layer, "close_pools", None)  # Redis connections of this probe
            if close is not None:
                await close()

    msg = async_to_sync(ping)()
    return {"ok": msg.get("type") == "health.ping"}


def _workers() -> dict[str, Any]:
    from webapp.config.celery import app

    replies = app.control.inspect(timeout=1.0).active_queues() or {}
    queues = sorted({q["name"] for qs in replies.values() for q in qs})
    return {"ok": bool(replies), "count": len(replies), "queues": queues}


CHECKS = {"database": _database, "broker": _broker, "channel_layer": _channel_layer, "workers": _workers}
# Workers being down degrades the service (jobs wait) but the web tier itself is healthy.
CRITICAL = {"database", "broker", "channel_layer"}


def healthz(request: HttpRequest) -> JsonResponse:
    result: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            result[name] = check()
        except Exception as exc:  # noqa: BLE001 - each dependency reports its own failure
            result[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    ok = all(result[name]["ok"] for name in CRITICAL)
    result["status"] = "ok" if ok and result["workers"]["ok"] else ("degraded" if ok else "down")
    return JsonResponse(result, status=200 if ok else 503)
