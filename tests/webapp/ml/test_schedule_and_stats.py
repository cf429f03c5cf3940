"""Periodic retraining (a scheduled run is promoted only when it beats the active model) and the
dashboard's numbers (AI acceptance rate, false positives per scan, per-annotator throughput)
computed from known counts."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client_as
from tests.factories import MembershipFactory, SeriesFactory, TaskFactory, UserFactory
from tests.webapp.ml.helpers import make_bundle, register_bundle

pytestmark = pytest.mark.django_db


def gate(better: bool) -> dict[str, Any]:
    cand, active = ({"f1": 0.8, "dice": 0.7}, {"f1": 0.5, "dice": 0.6}) if better else \
        ({"f1": 0.4, "dice": 0.5}, {"f1": 0.5, "dice": 0.6})
    return {"heldout": "heldout:CT:1x48x16", "candidate": cand, "active": active, "better": better}


def finish(run: Any, *, better: bool, version: str) -> Any:
    """What the gpu worker does at the end of a run: the candidate bundle and the eval gate."""
    from webapp.ml import services
    from webapp.ml.engine import zip_bundle_dir

    out = make_bundle(Path(tempfile.mkdtemp(prefix="nodus-cand-")), version=version, constant=False)
    comparison = gate(better)
    return services.finish_run(run_id=run.pk, bundle_zip=zip_bundle_dir(out),
                               bundle_meta={"name": "tiny-ct", "version": version},
                               metrics={"heldout": comparison["candidate"]}, comparison=comparison, history=[])


def accept_tasks(world: Any, n: int, *, labelled: bool = True) -> None:
    from webapp.labeling.models import LabelRevision, Task

    for _ in range(n):
        task = TaskFactory(series=SeriesFactory(study__patient__project=world["project"]),
                           assignee=world.users["assignee"], state=Task.State.ACCEPTED)
        if labelled:
            task.head_revision = LabelRevision.objects.create(task=task, storage_key="labels/x", shape=[1, 8, 8],
                                                              encoding="rle8+deflate", sha256="3" * 64)
            task.save(update_fields=["head_revision"])


@pytest.mark.parametrize(("trigger", "better", "promoted"), [
    ("schedule", False, False),  # the scheduled candidate does not beat the active model: stays a candidate
    ("schedule", True, True),  # beats it: promoted automatically
    ("manual", True, False),  # manual runs are always the admin's decision
])
def test_a_scheduled_run_is_promoted_only_when_it_beats_the_active_model(
    world: Any, trigger: str, better: bool, promoted: bool
) -> None:
    from webapp.ml import services
    from webapp.ml.models import ModelVersion, TrainingRun

    project = world["project"]
    active = register_bundle(project=project, constant=False)
    run = services.start_training(project=project, actor=None, trigger=trigger, config={"phantoms": 1})
    TrainingRun.objects.filter(pk=run.pk).update(state=TrainingRun.State.EVALUATING)
    run = finish(run, better=better, version="2.0.0")

    candidate = ModelVersion.objects.get(pk=run.result_version_id)
    project.refresh_from_db()
    active.refresh_from_db()
    assert run.state == "succeeded" and run.comparison["better"] is better
    assert candidate.parent_id == active.pk
    if promoted:
        assert project.active_model_id == candidate.pk and candidate.state == "active" and active.state == "retired"
    else:
        assert project.active_model_id == active.pk and active.state == "active" and candidate.state == "candidate"
    assert ModelVersion.objects.filter(project=project, state="active").count() == 1


def test_the_beat_check_starts_a_scheduled_run_once_enough_new_labels_exist(world: Any) -> None:
    from webapp.config.celery import app
    from webapp.ml import services
    from webapp.ml.models import TrainingRun, TrainingSchedule

    project = world["project"]
    register_bundle(project=project, constant=False)
    services.update_schedule(project=project, actor=None, enabled=True, nightly=False, hour=2, min_new_labels=3,
                             config={"max_epochs": 1})
    accept_tasks(world, 2)
    accept_tasks(world, 2, labelled=False)  # accepted without a label: nothing to train on, not counted
    assert services.run_due_schedules() == []
    accept_tasks(world, 1)
    started = services.run_due_schedules()
    app.control.purge()  # no worker here; the queued task is not needed
    assert len(started) == 1
    run = TrainingRun.objects.get(pk=started[0])
    assert run.trigger == "schedule" and run.config["max_epochs"] == 1 and "3+" in run.config["reason"]
    assert len(run.dataset) == 3
    assert TrainingSchedule.objects.get(project=project).last_triggered is not None
    # a run is open: the next check does not start a second one
    assert services.run_due_schedules() == []


def test_nightly_schedule_is_due_once_in_its_hour() -> None:
    from webapp.ml.models import TrainingSchedule
    from webapp.ml.services import due_reason

    s = TrainingSchedule(enabled=True, nightly=True, hour=2, min_new_labels=0)
    assert due_reason(schedule=s, now=datetime(2026, 1, 1, 2, 10, tzinfo=UTC)) == "nightly"
    assert due_reason(schedule=s, now=datetime(2026, 1, 1, 3, 10, tzinfo=UTC)) is None
    s.last_triggered = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    assert due_reason(schedule=s, now=datetime(2026, 1, 1, 2, 40, tzinfo=UTC)) is None
    assert due_reason(schedule=s, now=datetime(2026, 1, 2, 2, 5, tzinfo=UTC)) == "nightly"
    s.enabled = False
    assert due_reason(schedule=s, now=datetime(2026, 1, 2, 2, 5, tzinfo=UTC)) is None


def ai_job_with_findings(world: Any, statuses: list[str], *, state: str = "succeeded") -> Any:
    from webapp.labeling.models import Finding, LabelRevision
    from webapp.ml.models import InferenceJob, ModelVersion

    mv = ModelVersion.objects.filter(project=world["project"]).first() or ModelVersion.objects.create(
        project=world["project"], name="m", version="1", bundle_key="bundles/m.zip", sha256="0" * 64)
    series = SeriesFactory(study__patient__project=world["project"])
    task = TaskFactory(series=series, assignee=world.users["annotator"])
    rev = LabelRevision.objects.create(task=task, model_version=mv, storage_key="labels/x", encoding="rle8+deflate",
                                       shape=[1, 8, 8], sha256="2" * 64)
    for i, entry in enumerate(statuses, start=1):  # "status" or "status:detector" (default network)
        status, _, detector = entry.partition(":")
        Finding.objects.create(task=task, revision=rev, segment=i, label_class="nodule", source=Finding.Source.AI,
                               status=status, model_version=mv, detector=detector or "network")
    Finding.objects.create(task=task, revision=rev, segment=99, label_class="nodule", source=Finding.Source.HUMAN,
                           status=Finding.Status.ACCEPTED)  # a human finding is not an AI suggestion
    return InferenceJob.objects.create(project=world["project"], series=series, model_version=mv, task=task,
                                       state=state, result_revision=rev)


def test_triage_stats_count_ai_suggestions_of_finished_jobs(world: Any) -> None:
    from webapp.labeling.models import Finding
    from webapp.ml.selectors import triage_stats

    ai_job_with_findings(world, ["accepted", "accepted:second_stage", "rejected:second_stage", "suggested"])
    ai_job_with_findings(world, ["edited", "rejected", "rejected"])
    ai_job_with_findings(world, [])  # a clean scan: no suggestions, still a scan
    ai_job_with_findings(world, ["rejected", "rejected"], state="failed")  # not a finished job: not counted

    stats = triage_stats(project=world["project"])
    by_detector = stats.pop("by_detector")
    assert stats == {"suggestions": 7, "accepted": 3, "rejected": 3, "pending": 1, "acceptance_rate": 0.5,
                     "fp_per_scan": 1.0, "scans": 3}
    assert by_detector == {
        "network": {"suggestions": 5, "accepted": 2, "rejected": 2, "pending": 1, "acceptance_rate": 0.5,
                    "fp_per_scan": 0.667, "label": "network"},
        "second_stage": {"suggestions": 2, "accepted": 1, "rejected": 1, "pending": 0, "acceptance_rate": 0.5,
                         "fp_per_scan": 0.333, "label": "blob stage"},
    }
    page = client_as(world.users["project_admin"]).get("/dashboard/?project=demo").content.decode()
    assert ('<tr data-detector="second_stage"><td>blob stage</td>\n        <td>2</td><td>1</td><td>1</td>'
            '\n        <td>0.5</td><td>0.333</td></tr>') in page
    other = triage_stats(project=world["other_project"])
    assert other["suggestions"] == 0 and other["acceptance_rate"] is None and other["fp_per_scan"] is None
    assert other["by_detector"] == {}
    Finding.objects.filter(detector="network").update(detector="")  # results of older bundles
    assert triage_stats(project=world["project"])["by_detector"][""]["label"] == "not recorded"


def test_annotator_throughput_counts_tasks_per_state_and_returns(world: Any) -> None:
    from webapp.labeling.models import Review, Task
    from webapp.ml.selectors import annotator_throughput

    project = world["project"]
    bob = UserFactory(username="bob")
    MembershipFactory(user=bob, project=project)
    plan = {"assignee": ["accepted", "accepted", "submitted", "returned", "in_progress"],  # + the world task (new)
            "bob": ["accepted", "submitted", "submitted"]}
    tasks: dict[str, list[Any]] = {}
    for name, states in plan.items():
        user = bob if name == "bob" else world.users[name]
        tasks[name] = [TaskFactory(series=SeriesFactory(study__patient__project=project), assignee=user, state=s)
                       for s in states]
    reviewer = world.users["reviewer"]
    Review.objects.create(task=tasks["assignee"][3], reviewer=reviewer, decision=Review.Decision.RETURN_TASK)
    Review.objects.create(task=tasks["assignee"][0], reviewer=reviewer, decision=Review.Decision.RETURN_TASK)
    Review.objects.create(task=tasks["assignee"][0], reviewer=reviewer, decision=Review.Decision.ACCEPT_TASK)
    Review.objects.create(task=tasks["bob"][0], reviewer=reviewer, decision=Review.Decision.COMMENT)
    TaskFactory(series=SeriesFactory(study__patient__project=world["other_project"]), assignee=bob,
                state=Task.State.ACCEPTED)  # another project: not counted here

    rows = annotator_throughput(project=project)
    assert rows == [
        {"annotator": "assignee", "tasks": 6, "submitted": 1, "accepted": 2, "returned": 2},
        {"annotator": "bob", "tasks": 3, "submitted": 2, "accepted": 1, "returned": 0},
    ]
    page = client_as(world.users["project_admin"]).get("/dashboard/?project=demo")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<td>assignee</td><td>6</td><td>1</td><td>2</td><td>2</td>" in html
    assert "<td>bob</td><td>3</td><td>2</td><td>1</td><td>0</td>" in html
