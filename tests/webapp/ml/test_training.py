"""Training runs: a real fine-tune on tiny phantoms on CPU through the worker, the eval gate,
promote and roll back; one open run per project under concurrent requests."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from tests.conftest import client_as
from tests.webapp.ml.helpers import accepted_phantom_task, ingest_phantom, register_bundle

TINY_TRAINING = {"max_epochs": 2, "batch_size": 1, "roi_size": [16, 16, 16], "num_samples": 1, "val_fraction": 0.5,
                 "lr": 0.01, "phantoms": 1, "phantom_size": 48, "phantom_slices": 16,
                 "heldout": {"n": 1, "size": 48, "slices": 16}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_training_run_produces_a_candidate_with_metrics_then_promote_and_roll_back(
    world: Any, celery_worker_process: Any
) -> None:
    from webapp.ml.models import ModelVersion, TrainingRun

    # The base's recorded recipe: its augmentation carries over, the run's crop size wins.
    recipe = {"roi_size": [24, 24, 24], "flip_axes": [0, 1, 2], "transpose_prob": 0.5, "lr": 0.5}
    base = register_bundle(project=world["project"], constant=False, training=recipe)
    accepted_phantom_task(world=world)
    admin = client_as(world.users["project_admin"])
    r = admin.post("/api/v1/training-runs/", {"project": "demo", "config": TINY_TRAINING}, format="json")
    assert r.status_code == 202, r.content
    run = TrainingRun.objects.get(pk=r.json()["id"])
    assert run.dataset and run.base_version_id == base.pk
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and run.state not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        run.refresh_from_db()
    assert run.state == "succeeded", (run.state, run.error, celery_worker_process.output()[-3000:])
    assert run.history and "loss" in run.history[0]
    assert set(run.comparison) >= {"candidate", "active", "better"}
    candidate = run.result_version
    assert candidate is not None and candidate.state == "candidate" and candidate.parent_id == base.pk
    assert {"dice", "sensitivity", "precision", "f1", "cpm"} <= set(candidate.metrics["heldout"])
    trained = candidate.metadata["bundle"]["training"]
    assert (trained["flip_axes"], trained["transpose_prob"]) == ([0, 1, 2], 0.5)
    assert (trained["roi_size"], trained["lr"]) == ([16, 16, 16], 0.01)

    # annotators cannot promote; admins promote and roll back
    assert client_as(world.users["annotator"]).post(f"/api/v1/models/{candidate.pk}/promote/").status_code == 403
    assert admin.post(f"/api/v1/models/{candidate.pk}/promote/").status_code == 200
    base.refresh_from_db()
    world["project"].refresh_from_db()
    assert world["project"].active_model_id == candidate.pk and base.state == "retired"
    # the next study is pre-annotated by the promoted version
    assert _run_ai_on_new_series(admin, world, seed=31) == candidate.pk
    r = admin.post(f"/api/v1/models/{base.pk}/promote/", {"reason": "rollback"}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert ModelVersion.objects.get(pk=candidate.pk).state == "retired"
    assert ModelVersion.objects.filter(project=world["project"], state="active").count() == 1
    assert _run_ai_on_new_series(admin, world, seed=32) == base.pk


def _run_ai_on_new_series(client: Any, world: Any, *, seed: int) -> int:
    """Ingest a new phantom series, press "Run AI" and return the model version the job uses."""
    series = ingest_phantom(project=world["project"], seed=seed, size=32, slices=8)
    r = client.post("/api/v1/jobs/", {"series": series.pk}, format="json")
    assert r.status_code in (200, 201, 202), r.content
    return int(r.json()["model_version"])


@pytest.mark.django_db(transaction=True)
def test_concurrent_training_requests_one_runs_the_other_gets_409(world: Any) -> None:
    from webapp.config.celery import app
    from webapp.ml.models import TrainingRun

    register_bundle(project=world["project"], constant=False)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def start() -> None:
        client = client_as(world.users["project_admin"])
        barrier.wait()
        results.append(client.post("/api/v1/training-runs/", {"project": "demo", "config": {"phantoms": 1}},
                                   format="json"))
        connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    app.control.purge()
    codes = sorted(r.status_code for r in results)
    assert codes == [202, 409], [r.content for r in results]
    refused = next(r for r in results if r.status_code == 409).json()
    assert refused["error"] == "conflict" and "already" in refused["detail"]
    assert TrainingRun.objects.filter(project=world["project"]).count() == 1


@pytest.mark.django_db
def test_a_bad_training_setting_is_refused_with_its_reason_and_no_run_is_made(world: Any) -> None:
    from webapp.ml.models import TrainingRun

    register_bundle(project=world["project"], constant=False)
    admin = client_as(world.users["project_admin"])
    for config in ({"max_epochs": 0}, {"roi_size": [4, 4]}, {"lr": "fast"}, {"compile": "yes"}):
        r = admin.post("/api/v1/training-runs/", {"project": "demo", "config": config}, format="json")
        assert r.status_code == 400, (config, r.content)
        assert next(iter(config)) in r.content.decode(), r.content
    r = admin.post("/api/v1/training-runs/", {"project": "demo", "config": {
        "transpose_prob": 0.5, "roi_size": [16, 16, 24]}}, format="json")
    assert r.status_code == 400 and b"square crop" in r.content, r.content
    assert not TrainingRun.objects.filter(project=world["project"]).exists()
    r = admin.put("/api/v1/training-runs/schedule/", {"project": "demo", "enabled": True,
                                                      "config": {"batch_size": -1}}, format="json")
    assert r.status_code == 400 and b"batch_size" in r.content, r.content
