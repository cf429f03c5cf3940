"""Websocket protocol: authentication, per-topic permission, events with increasing seq."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from webapp.config.asgi import application
from webapp.realtime.publish import publish

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def connect(user: Any) -> WebsocketCommunicator:
    token = await sync_to_async(lambda: Token.objects.get_or_create(user=user)[0].key)()
    comm = WebsocketCommunicator(application, f"/ws/events/?token={token}", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await comm.connect()
    assert connected
    return comm


async def test_anonymous_socket_is_closed() -> None:
    comm = WebsocketCommunicator(application, "/ws/events/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, code = await comm.connect()
    assert not connected and code == 4401


async def test_member_receives_project_events_in_order_with_increasing_seq(world: Any) -> None:
    comm = await connect(world.users["annotator"])
    await comm.send_json_to({"subscribe": "project.demo"})
    assert (await comm.receive_json_from())["type"] == "subscribed"
    for i in range(3):
        await sync_to_async(publish)("project.demo", "test.tick", {"i": i})
    events = [await comm.receive_json_from(timeout=5) for _ in range(3)]
    assert [e["data"]["i"] for e in events] == [0, 1, 2]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(e["topic"] == "project.demo" and e["type"] == "test.tick" and e["at"] for e in events)
    await comm.disconnect()


async def test_outsider_cannot_subscribe_to_a_project_or_its_series(world: Any) -> None:
    comm = await connect(world.users["outsider"])
    for topic in ["project.demo", f"series.{world['series'].series_instance_uid}", "training.1", "job.1"]:
        await comm.send_json_to({"subscribe": topic})
        reply = await comm.receive_json_from()
        assert reply["type"] == "error" and reply["topic"] == topic
    await sync_to_async(publish)("project.demo", "test.secret", {})
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_malformed_messages_get_an_error_not_a_crash(world: Any) -> None:
    comm = await connect(world.users["annotator"])
    await comm.send_to(text_data="not json at all")
    # the consumer stays alive: a well-formed subscription still works afterwards
    await comm.send_json_to({"subscribe": "bogus topic!"})
    replies = [await comm.receive_json_from(timeout=5)]
    if replies[0].get("topic") != "bogus topic!":
        replies.append(await comm.receive_json_from(timeout=5))
    assert replies[-1]["type"] == "error"
    await comm.disconnect()
