"""Websocket topics of the AI loop as a permission matrix: real jobs and training runs in the
`world` projects, every role subscribing over the ASGI application to every topic kind."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from tests.conftest import ROLES
from webapp.config.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# role × topic → may subscribe. `job`, `training`, `series`, `project` belong to the `demo`
# project; `other_*` to the project where only the outsider (an annotator there) is a member;
# `missing_job` names no job. Anonymous sockets are closed before any subscription (4401).
TOPICS = ["job", "training", "series", "project", "other_job", "other_training", "missing_job"]
MATRIX = """
role           job  training  series  project  other_job  other_training  missing_job
outsider       -    -         -       -        +          -               -
annotator      +    -         +       +        -          -               -
assignee       +    -         +       +        -          -               -
reviewer       +    -         +       +        -          -               -
project_admin  +    +         +       +        -          -               -
site_admin     +    +         +       +        +          +               -
"""


def expected() -> dict[str, dict[str, bool]]:
    header, *rows = [line.split() for line in MATRIX.strip().splitlines()]
    assert header == ["role", *TOPICS]
    table = {row[0]: {t: cell == "+" for t, cell in zip(TOPICS, row[1:], strict=True)} for row in rows}
    assert sorted(table) == sorted(r for r in ROLES if r != "anonymous"), "every role needs a row"
    return table


def loop_objects(world: Any) -> dict[str, str]:
    """A real active version, inference job and training run in each project; returns topic names."""
    from webapp.ml.models import InferenceJob, ModelVersion, TrainingRun

    topics: dict[str, str] = {}
    for prefix, project, series in (("", world["project"], world["series"]),
                                    ("other_", world["other_project"], world["other_series"])):
        version = ModelVersion.objects.create(project=project, name="m", version="1", bundle_key="bundles/m.zip",
                                              sha256="0" * 64, state=ModelVersion.State.ACTIVE)
        project.active_model = version
        project.save(update_fields=["active_model"])
        job = InferenceJob.objects.create(project=project, series=series, model_version=version,
                                          state=InferenceJob.State.RUNNING)
        run = TrainingRun.objects.create(project=project, base_version=version, state=TrainingRun.State.RUNNING)
        topics[f"{prefix}job"] = f"job.{job.pk}"
        topics[f"{prefix}training"] = f"training.{run.pk}"
        world.objects[f"{prefix}job"], world.objects[f"{prefix}run"] = job, run
    topics["series"] = f"series.{world['series'].series_instance_uid}"
    topics["project"] = f"project.{world['project'].slug}"
    topics["missing_job"] = f"job.{world['other_job'].pk + 1000}"
    return topics


async def connect(user: Any) -> WebsocketCommunicator:
    path = "/ws/events/"
    if user is not None:
        token = await sync_to_async(lambda: Token.objects.get_or_create(user=user)[0].key)()
        path += f"?token={token}"
    return WebsocketCommunicator(application, path, headers=[(b"origin", b"http://127.0.0.1")])


async def subscribe(comm: WebsocketCommunicator, topic: str) -> bool:
    await comm.send_json_to({"subscribe": topic})
    reply = await comm.receive_json_from(timeout=5)
    assert reply.get("topic") == topic, reply
    assert reply["type"] in ("subscribed", "error"), reply
    return bool(reply["type"] == "subscribed")


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
async def test_topic_subscriptions_follow_the_matrix(world: Any, role: str) -> None:
    topics = await sync_to_async(loop_objects)(world)
    comm = await connect(world.users[role])
    connected, _ = await comm.connect()
    assert connected
    got = {kind: await subscribe(comm, topics[kind]) for kind in TOPICS}
    await comm.disconnect()
    assert got == expected()[role]


async def test_anonymous_socket_is_closed_before_any_topic(world: Any) -> None:
    await sync_to_async(loop_objects)(world)
    comm = await connect(None)
    connected, code = await comm.connect()
    assert not connected and code == 4401


async def test_refused_topics_deliver_nothing_and_training_details_stay_on_the_admin_topic(world: Any) -> None:
    """The annotator gets the job's events on job/series/project topics, never the training
    curve; the project admin gets the curve on training.<id>."""
    from webapp.ml import events

    topics = await sync_to_async(loop_objects)(world)
    annotator, admin = await connect(world.users["annotator"]), await connect(world.users["project_admin"])
    for comm in (annotator, admin):
        assert (await comm.connect())[0]
        for kind in ("job", "series", "project", "other_job"):
            await subscribe(comm, topics[kind])
    assert not await subscribe(annotator, topics["training"])
    assert await subscribe(admin, topics["training"])

    def publish() -> None:
        from webapp.ml.models import InferenceJob, TrainingRun

        job = InferenceJob.objects.select_related("series", "project").get(pk=world["job"].pk)
        run = TrainingRun.objects.select_related("project").get(pk=world["run"].pk)
        other = InferenceJob.objects.select_related("series", "project").get(pk=world["other_job"].pk)
        events.job_event(other, "progress", fraction=0.5)  # other project: nobody here may see it
        events.run_event(run, "progress", point={"iteration": 1, "loss": 0.9})
        events.job_event(job, "progress", fraction=0.25)

    await sync_to_async(publish)()
    seen = [await annotator.receive_json_from(timeout=5) for _ in range(3)]
    assert sorted(e["topic"] for e in seen) == sorted([topics["job"], topics["series"], topics["project"]])
    assert all(e["type"] == "job.progress" and e["data"]["job"] == world["job"].pk for e in seen)
    assert await annotator.receive_nothing(timeout=0.5)

    admin_seen = [await admin.receive_json_from(timeout=5) for _ in range(4)]
    curve = [e for e in admin_seen if e["topic"] == topics["training"]]
    assert len(curve) == 1 and curve[0]["type"] == "training.progress"
    assert curve[0]["data"]["point"] == {"iteration": 1, "loss": 0.9}
    assert await admin.receive_nothing(timeout=0.5)
    for comm in (annotator, admin):
        await comm.disconnect()
