"""Pre-annotation with a real Celery worker, real Redis and PostgreSQL: ingest → job → suggestions,
live events in order, and a worker killed with SIGKILL mid-inference."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from tests.conftest import start_worker
from tests.webapp.ml.helpers import ingest_phantom, register_bundle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def _setup(world: Any) -> Any:
    project = world["project"]
    project.auto_preannotate = True
    project.save(update_fields=["auto_preannotate"])
    return register_bundle(project=project, constant=True)


@pytest.mark.asyncio
async def test_ingested_series_is_preannotated_and_events_arrive_in_order(
    world: Any, celery_worker_process: Any
) -> None:
    from webapp.config.asgi import application
    from webapp.labeling.models import Finding
    from webapp.ml.models import InferenceJob

    mv = await sync_to_async(_setup)(world)
    token = await sync_to_async(lambda: Token.objects.get_or_create(user=world.users["annotator"])[0].key)()
    comm = WebsocketCommunicator(application, f"/ws/events/?token={token}", headers=[(b"origin", b"http://127.0.0.1")])
    assert (await comm.connect())[0]
    await comm.send_json_to({"subscribe": "project.demo"})
    assert (await comm.receive_json_from())["type"] == "subscribed"

    series = await sync_to_async(ingest_phantom)(project=world["project"], actor=world.users["site_admin"])

    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ev = await comm.receive_json_from(timeout=120)
        if ev["type"].startswith("job."):
            events.append(ev)
        if ev["type"] in ("job.finished", "job.failed"):
            break
    await comm.disconnect()
    types = [e["type"] for e in events]
    assert types[-1] == "job.finished", (types, events[-1]["data"], celery_worker_process.output()[-3000:])
    assert types[0] == "job.queued" and types[1] == "job.started"
    assert set(types[2:-1]) == {"job.progress"} and len(types) > 4
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    fractions = [e["data"]["progress"] for e in events if e["type"] == "job.progress"]
    assert fractions == sorted(fractions)
    # where the time went, per stage (also on the job.finish audit row; bench/loop.py prints it)
    timings = events[-1]["data"]["timings"]
    assert list(timings)[:4] == ["load_model", "settle_wait", "read_series", "inference"], timings
    assert {"inference.preprocess", "inference.sliding_window"} <= set(timings)
    assert all(isinstance(v, float) and v >= 0 for v in timings.values())

    job = await sync_to_async(lambda: InferenceJob.objects.get(series=series, model_version=mv))()
    assert job.state == "succeeded" and job.result_revision_id and job.progress == 1.0
    findings = await sync_to_async(lambda: list(Finding.objects.filter(revision_id=job.result_revision_id)))()
    assert findings and all(f.source == "ai" and f.status == "suggested" and f.probability is not None
                            and f.diameter_mm and f.volume_mm3 and f.model_version_id == mv.pk for f in findings)
    assert {f.detector for f in findings} == {"network"}  # the tiny bundle has no second stage


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    os.kill(proc.pid, signal.SIGKILL)
    for pid in children:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


def test_worker_killed_mid_inference_is_redelivered_and_saves_exactly_one_result(world: Any) -> None:
    from webapp.config.celery import app
    from webapp.labeling.models import LabelRevision
    from webapp.ml.models import InferenceJob

    app.control.purge()
    mv = _setup(world)
    fast_restore = {"NODUS_BROKER_VISIBILITY_TIMEOUT": "3", "NODUS_SERIES_SETTLE_S": "0"}
    first = start_worker(extra_env={**fast_restore, "NODUS_INFERENCE_THROTTLE_S": "0.5"})
    second = None
    try:
        series = ingest_phantom(project=world["project"], actor=world.users["site_admin"], seed=11)
        job = InferenceJob.objects.get(series=series, model_version=mv)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.state == "running" and job.stage == "inference":
                break
            time.sleep(0.1)
        assert job.state == "running" and job.stage == "inference", (job.state, job.stage, first.output()[-2000:])
        _kill_tree(first.proc)
        second = start_worker(extra_env=fast_restore)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.state in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert job.state == "succeeded", (job.state, job.error, second.output()[-3000:])
        assert job.attempts == 2
        assert LabelRevision.objects.filter(task__series=series, model_version=mv).count() == 1
    finally:
        for w in (first, second):
            if w is not None and w.proc.poll() is None:
                w.proc.terminate()
                w.proc.wait(20)
