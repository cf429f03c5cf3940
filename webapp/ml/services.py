"""Writes of the ML app: model registry, pre-annotation jobs, training runs, schedules.

Keyword-only typed arguments, one transaction each, an audit row for every decision, Celery tasks
sent on commit by name (this module never imports `inference`/`training`: the web process stays
light and the import contracts hold; `engine.py` is the worker side).
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.audit.services import record
from webapp.core.errors import Conflict, ValidationFailed
from webapp.core.storage import put_content_addressed
from webapp.imaging.models import Series
from webapp.labeling import codec
from webapp.labeling.models import Finding, LabelRevision, Project, Task
from webapp.labeling.schema import class_names

from . import events
from .models import InferenceJob, ModelVersion, TrainingRun, TrainingSchedule

log = logging.getLogger(__name__)

INFER_TASK = "webapp.ml.tasks.run_inference_job"
TRAIN_TASK = "webapp.ml.tasks.run_training"
VALIDATE_TASK = "webapp.ml.tasks.validate_bundle"
MAX_JOB_ATTEMPTS = 3
OPEN_RUN_STATES = (TrainingRun.State.QUEUED, TrainingRun.State.RUNNING, TrainingRun.State.EVALUATING)
MAX_BUNDLE_UPLOAD = 512 * 1024**2


def send_task(name: str, **kwargs: Any) -> None:
    """Enqueue by name (routes in settings send webapp.ml.tasks.* to the gpu queue)."""
    from webapp.config.celery import app

    app.send_task(name, kwargs=kwargs)


# --- model registry -------------------------------------------------------------------------


def register_model_version(
    *,
    project: Project | None,
    name: str,
    version: str,
    modality: str,
    bundle_key: str,
    sha256: str,
    metadata: dict[str, Any],
    actor: Any = None,
    parent: ModelVersion | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """A candidate version; importing the same bundle twice returns the existing row."""
    with transaction.atomic():
        existing = ModelVersion.objects.filter(project=project, name=name, version=version).first()
        if existing is not None:
            if existing.sha256 != sha256:
                raise Conflict(
                    f"{name}@{version} already exists with different weights; bump the bundle version",
                    model_version=existing.pk,
                )
            return existing
        mv = ModelVersion.objects.create(
            project=project, name=name[:100], version=version[:40], modality=modality[:16], bundle_key=bundle_key,
            sha256=sha256, metadata=metadata, metrics=metrics or {}, parent=parent,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record(actor=actor, action="model.register", target=mv, project_id=project.pk if project else None,
               data={"name": mv.name, "version": mv.version, "sha256": sha256, "parent": mv.parent_id})
    return mv


def read_bundle_zip_metadata(data: bytes) -> dict[str, Any]:
    """Cheap checks of an uploaded zip in the web process; the gpu worker loads it fully."""
    if len(data) > MAX_BUNDLE_UPLOAD:
        raise ValidationFailed("bundle zip is too large")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.endswith("configs/metadata.json")]
            if not names:
                raise ValidationFailed("not a MONAI bundle: configs/metadata.json is missing")
            meta = json.loads(zf.read(min(names, key=len)))
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"not a MONAI bundle zip: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("version"), str):
        raise ValidationFailed("configs/metadata.json needs a 'version'")
    return meta


def upload_bundle(*, project: Project, data: bytes, filename: str, actor: Any) -> ModelVersion:
    """Store an uploaded bundle zip as a candidate; the gpu worker validates it with
    `inference.load_bundle` (metadata.validation: pending → ok | failed)."""
    meta = read_bundle_zip_metadata(data)
    key, digest = put_content_addressed("bundles", data, ".zip")
    name = str(meta.get("name") or filename.rsplit(".", 1)[0] or "model")
    mv = register_model_version(
        project=project, name=name, version=str(meta["version"]), modality=str(meta.get("modality", "")),
        bundle_key=key, sha256=digest, metadata={"bundle": meta, "validation": "pending"}, actor=actor,
    )
    if mv.metadata.get("validation") == "pending":
        pk = mv.pk
        transaction.on_commit(lambda: send_task(VALIDATE_TASK, model_version_id=pk))
    return mv


def set_validation(*, model_version_id: int, ok: bool, detail: str, info: dict[str, Any] | None = None) -> None:
    with transaction.atomic():
        mv = ModelVersion.objects.select_for_update().get(pk=model_version_id)
        mv.metadata = {**mv.metadata, **(info or {}), "validation": "ok" if ok else "failed",
                       "validation_detail": detail}
        fields = ["metadata"]
        if not ok and mv.state == ModelVersion.State.CANDIDATE:
            mv.state = ModelVersion.State.DISCARDED
            fields.append("state")
        mv.save(update_fields=fields)
        record(actor=None, action="model.validate", target=mv, project_id=mv.project_id,
               data={"ok": ok, "detail": detail[:500]})
        if mv.project is not None:
            slug, pk = mv.project.slug, mv.pk
            transaction.on_commit(lambda: events.project_event(slug, "model.validated", {
                "model_version": pk, "ok": ok, "detail": detail[:500]}))


def activate_version(*, version: ModelVersion, actor: Any, reason: str = "promote") -> ModelVersion:
    """Make `version` the project's active model (promote or roll back); the previous one retires."""
    if version.project_id is None:
        raise ValidationFailed("a model version must belong to a project to be activated")
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=version.project_id)
        mv = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if mv.state == ModelVersion.State.DISCARDED:
            raise Conflict("a discarded version cannot be activated", state=mv.state)
        if mv.metadata.get("validation") in ("pending", "failed"):
            raise Conflict(f"the bundle validation is {mv.metadata['validation']}", state=mv.state)
        if mv.state == ModelVersion.State.ACTIVE:
            return mv
        previous = ModelVersion.objects.filter(project=project, state=ModelVersion.State.ACTIVE).first()
        if previous is not None:
            previous.state = ModelVersion.State.RETIRED
            previous.save(update_fields=["state"])
        mv.state = ModelVersion.State.ACTIVE
        mv.save(update_fields=["state"])
        project.active_model = mv
        project.save(update_fields=["active_model"])
        record(actor=actor, action=f"model.{reason}", target=mv, project_id=project.pk,
               data={"previous": previous.pk if previous else None, "version": str(mv)})
        slug, pk, prev = project.slug, mv.pk, previous.pk if previous else None
        transaction.on_commit(lambda: events.project_event(slug, "model.activated", {
            "model_version": pk, "previous": prev, "reason": reason}))
    return mv


def discard_version(*, version: ModelVersion, actor: Any) -> ModelVersion:
    with transaction.atomic():
        mv = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if mv.state == ModelVersion.State.ACTIVE:
            raise Conflict("the active version cannot be discarded; promote or roll back to another first")
        if mv.state != ModelVersion.State.DISCARDED:
            mv.state = ModelVersion.State.DISCARDED
            mv.save(update_fields=["state"])
            record(actor=actor, action="model.discard", target=mv, project_id=mv.project_id, data={})
    return mv


# --- pre-annotation jobs ----------------------------------------------------------------------


def _task_for_series(*, project: Project, series: Series) -> Task:
    task = Task.objects.filter(project=project, series=series).order_by("id").first()
    return task or Task.objects.create(project=project, series=series)


def request_preannotation(
    *, series: Series, requested_by: Any = None, model_version: ModelVersion | None = None
) -> InferenceJob | None:
    """Queue AI pre-annotation of a series with the project's active model (or `model_version`).

    Called after ingest (auto pre-annotation) and by "Run AI". Idempotent: one job per
    (series, model version); asking again returns the existing job. Returns None when the project
    has no active model or, for an automatic request, auto pre-annotation is off.
    """
    project = Project.objects.get(pk=series.study.project_id)
    if requested_by is None and not project.auto_preannotate and model_version is None:
        return None
    mv = model_version or project.active_model
    if mv is None:
        return None
    if mv.project_id not in (None, project.pk):
        raise ValidationFailed("that model version belongs to another project")
    with transaction.atomic():
        task = _task_for_series(project=project, series=series)
        try:
            with transaction.atomic():
                job, created = InferenceJob.objects.get_or_create(
                    series=series, model_version=mv,
                    defaults={"project": project, "task": task,
                              "requested_by": requested_by if getattr(requested_by, "is_authenticated", False)
                              else None},
                )
        except IntegrityError:  # a concurrent request created it
            job, created = InferenceJob.objects.get(series=series, model_version=mv), False
        if created:
            record(actor=requested_by, action="job.request", target=job, project_id=project.pk,
                   data={"series": series.series_instance_uid, "model_version": str(mv)})
            _enqueue_job(job)
    return job


def _enqueue_job(job: InferenceJob) -> None:
    pk = job.pk

    def go() -> None:
        send_task(INFER_TASK, job_id=pk)
        events.job_event(InferenceJob.objects.select_related("series", "project").get(pk=pk), "queued")

    transaction.on_commit(go)


def retry_job(*, job: InferenceJob, actor: Any) -> InferenceJob:
    with transaction.atomic():
        locked = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if locked.state not in (InferenceJob.State.FAILED, InferenceJob.State.CANCELLED):
            raise Conflict(f"only failed or cancelled jobs can be retried; this one is {locked.state}",
                           state=locked.state)
        locked.state, locked.error, locked.progress, locked.stage = InferenceJob.State.QUEUED, "", 0.0, ""
        locked.attempts, locked.started, locked.finished = 0, None, None
        locked.save(update_fields=["state", "error", "progress", "stage", "attempts", "started", "finished"])
        record(actor=actor, action="job.retry", target=locked, project_id=locked.project_id, data={})
        _enqueue_job(locked)
    return locked


def begin_job(*, job_id: int) -> InferenceJob | None:
    """Worker side: claim the job. None when there is nothing to do (finished, failed, gone).

    A job found `running` is a redelivery after its worker died: it is taken over (attempts + 1);
    after MAX_JOB_ATTEMPTS it fails instead of crashing workers forever.
    """
    with transaction.atomic():
        job = InferenceJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in (InferenceJob.State.QUEUED, InferenceJob.State.RUNNING):
            return None
        if job.attempts >= MAX_JOB_ATTEMPTS:
            job.state, job.finished = InferenceJob.State.FAILED, timezone.now()
            job.error = f"gave up after {job.attempts} attempts (worker lost each time)"
            job.save(update_fields=["state", "finished", "error"])
            record(actor=None, action="job.fail", target=job, project_id=job.project_id, data={"error": job.error})
            failed = job
            transaction.on_commit(lambda: events.job_event(failed, "failed"))
            return None
        redelivered = job.state == InferenceJob.State.RUNNING
        job.state, job.attempts, job.started = InferenceJob.State.RUNNING, job.attempts + 1, timezone.now()
        job.stage, job.progress, job.error = "starting", 0.0, ""
        job.save(update_fields=["state", "attempts", "started", "stage", "progress", "error"])
        job = InferenceJob.objects.select_related("series", "project", "model_version", "task").get(pk=job_id)
        transaction.on_commit(lambda: events.job_event(job, "started", redelivered=redelivered))
    return job


def save_job_progress(*, job_id: int, fraction: float, stage: str) -> None:
    InferenceJob.objects.filter(pk=job_id, state=InferenceJob.State.RUNNING).update(
        progress=fraction, stage=stage[:64]
    )


def job_should_stop(*, job_id: int) -> bool:
    return not InferenceJob.objects.filter(pk=job_id, state=InferenceJob.State.RUNNING).exists()


def complete_job(
    *, job_id: int, label: np.ndarray, candidates: list[dict[str, Any]], seconds: float | None = None,
    timings: dict[str, float] | None = None,
) -> LabelRevision | None:
    """Store the AI result once: a LabelRevision authored by the model version and one suggested
    Finding per candidate. A duplicate delivery that finishes second stores nothing."""
    blob = codec.encode(np.ascontiguousarray(label, dtype=np.uint8))
    key, digest = put_content_addressed("labels", blob)  # content-addressed: a duplicate is harmless
    with transaction.atomic():
        job = InferenceJob.objects.select_for_update().select_related("model_version", "series", "project").get(
            pk=job_id)
        if job.result_revision_id is not None or job.state != InferenceJob.State.RUNNING:
            return None
        task = Task.objects.select_for_update().get(pk=job.task_id) if job.task_id else _task_for_series(
            project=job.project, series=job.series)
        mv = job.model_version
        first_class = (class_names(job.project.label_schema or {}) or ["lesion"])[0]
        becomes_head = task.head_revision_id is None
        rev = LabelRevision.objects.create(
            task=task, parent=None, author=None, model_version=mv, storage_key=key, encoding=codec.ENCODING,
            shape=list(label.shape), sha256=digest, size=len(blob), message=f"AI pre-annotation by {mv}"[:200],
        )
        for c in candidates:
            Finding.objects.create(
                task=task, revision=rev, segment=int(c["label"]), label_class=first_class, attributes={},
                centroid_voxel=[round(float(v), 2) for v in c["centroid_voxel"]],
                centroid_mm=[round(float(v), 2) for v in c["centroid_mm"]],
                diameter_mm=round(float(c["diameter_mm"]), 2), volume_mm3=round(float(c["volume_mm3"]), 2),
                probability=round(float(c["probability_max"]), 4), detector=_detector(c),
                source=Finding.Source.AI, status=Finding.Status.SUGGESTED, model_version=mv,
            )
        if becomes_head:  # a fresh task starts from the AI label; human work is never replaced
            task.head_revision = rev
            task.save(update_fields=["head_revision", "updated"])
        job.state, job.progress, job.stage = InferenceJob.State.SUCCEEDED, 1.0, "done"
        job.result_revision, job.task, job.finished = rev, task, timezone.now()
        job.save(update_fields=["state", "progress", "stage", "result_revision", "task", "finished"])
        record(actor=None, actor_label=f"model {mv}", action="job.finish", target=job, project_id=job.project_id,
               data={"revision": rev.pk, "findings": len(candidates), "seconds": seconds,
                     "timings": timings or {}})
        transaction.on_commit(lambda: events.job_event(job, "finished", findings=len(candidates),
                                                       seconds=seconds, timings=timings or {}))
    return rev


def _detector(candidate: dict[str, Any]) -> str:
    """Which detector proposed a candidate; "" when an older bundle does not say, or says something
    unknown (a bundle's output is not trusted input)."""
    name = str(candidate.get("detector", ""))[:16]
    return name if name in Finding.Detector.values else ""


def fail_job(*, job_id: int, reason: str, cancelled: bool = False) -> None:
    with transaction.atomic():
        job = InferenceJob.objects.select_for_update().select_related("series", "project").get(pk=job_id)
        if job.state not in (InferenceJob.State.QUEUED, InferenceJob.State.RUNNING):
            return
        job.state = InferenceJob.State.CANCELLED if cancelled else InferenceJob.State.FAILED
        job.error, job.finished = reason[:2000], timezone.now()
        job.save(update_fields=["state", "error", "finished"])
        record(actor=None, action="job.cancel" if cancelled else "job.fail", target=job,
               project_id=job.project_id, data={"error": reason[:500]})
        transaction.on_commit(lambda: events.job_event(job, "cancelled" if cancelled else "failed"))


# --- training runs ---------------------------------------------------------------------------


def accepted_dataset(*, project: Project) -> list[dict[str, Any]]:
    """Snapshot of the training labels: the head revision of every accepted task."""
    rows = (
        Task.objects.filter(project=project, state=Task.State.ACCEPTED, head_revision__isnull=False)
        .order_by("id")
        .values_list("id", "head_revision_id", "series_id")
    )
    return [{"task": t, "revision": r, "series": s} for t, r, s in rows]


def start_training(
    *, project: Project, actor: Any, trigger: str = "manual", config: dict[str, Any] | None = None
) -> TrainingRun:
    """One open run per project: the project row is locked, a second request gets 409."""
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        open_run = TrainingRun.objects.filter(project=locked, state__in=OPEN_RUN_STATES).first()
        if open_run is not None:
            raise Conflict(f"training run {open_run.pk} is already {open_run.state} for this project; "
                           "wait for it to finish or cancel it", run=open_run.pk)
        base = locked.active_model
        if base is None:
            raise Conflict("the project has no active model to fine-tune; import or promote one first")
        dataset = accepted_dataset(project=locked)
        cfg = dict(config or {})
        if not dataset and not cfg.get("phantoms"):
            raise Conflict("no accepted tasks to train on yet")
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    project=locked, base_version=base, dataset=dataset, config=cfg, trigger=trigger[:16],
                    requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                )
        except IntegrityError as exc:  # the partial unique constraint, if a lock was bypassed
            raise Conflict("a training run is already in progress for this project") from exc
        record(actor=actor, action="training.start", target=run, project_id=locked.pk,
               data={"trigger": trigger, "base_version": base.pk, "cases": len(dataset), "config": cfg})
        pk = run.pk

        def go() -> None:
            send_task(TRAIN_TASK, run_id=pk)
            events.run_event(TrainingRun.objects.select_related("project").get(pk=pk), "queued")

        transaction.on_commit(go)
    return run


def cancel_training(*, run: TrainingRun, actor: Any) -> TrainingRun:
    with transaction.atomic():
        locked = TrainingRun.objects.select_for_update().select_related("project").get(pk=run.pk)
        if locked.state not in OPEN_RUN_STATES:
            raise Conflict(f"the run is already {locked.state}", state=locked.state)
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        if locked.state == TrainingRun.State.QUEUED:
            locked.state, locked.finished = TrainingRun.State.CANCELLED, timezone.now()
            fields += ["state", "finished"]
        locked.save(update_fields=fields)
        record(actor=actor, action="training.cancel", target=locked, project_id=locked.project_id, data={})
        if locked.state == TrainingRun.State.CANCELLED:
            transaction.on_commit(lambda: events.run_event(locked, "cancelled"))
    return locked


def begin_run(*, run_id: int) -> TrainingRun | None:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("project", "base_version").filter(
            pk=run_id).first()
        if run is None or run.state not in (TrainingRun.State.QUEUED, TrainingRun.State.RUNNING):
            return None  # finished, cancelled, or evaluating elsewhere
        run.state, run.started, run.history, run.error = TrainingRun.State.RUNNING, timezone.now(), [], ""
        run.save(update_fields=["state", "started", "history", "error"])
        transaction.on_commit(lambda: events.run_event(run, "started"))
    return run


def save_run_history(*, run_id: int, history: list[dict[str, Any]]) -> bool:
    """Persist the curve so far; returns whether a cancel was requested."""
    TrainingRun.objects.filter(pk=run_id).update(history=history)
    return bool(TrainingRun.objects.filter(pk=run_id).values_list("cancel_requested", flat=True).first())


def set_run_state(*, run_id: int, state: str) -> None:
    TrainingRun.objects.filter(pk=run_id).update(state=state)
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    events.run_event(run, state)


def finish_run(
    *, run_id: int, bundle_zip: bytes, bundle_meta: dict[str, Any], metrics: dict[str, Any],
    comparison: dict[str, Any], history: list[dict[str, Any]],
) -> TrainingRun:
    """Register the candidate version with its metrics; a scheduled run that beats the active model
    is promoted, one that does not is left as a candidate."""
    key, digest = put_content_addressed("bundles", bundle_zip, ".zip")
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("project", "base_version").get(pk=run_id)
        if run.result_version_id is not None:
            return run
        base = run.base_version
        mv = register_model_version(
            project=run.project, name=base.name, version=str(bundle_meta.get("version", f"run{run.pk}")),
            modality=base.modality, bundle_key=key, sha256=digest,
            metadata={"bundle": bundle_meta, "validation": "ok", "training_run": run.pk}, actor=None,
            parent=base, metrics=metrics,
        )
        run.result_version, run.metrics, run.comparison, run.history = mv, metrics, comparison, history
        run.state, run.finished = TrainingRun.State.SUCCEEDED, timezone.now()
        run.save(update_fields=["result_version", "metrics", "comparison", "history", "state", "finished"])
        record(actor=None, action="training.finish", target=run, project_id=run.project_id,
               data={"result_version": mv.pk, "better": comparison.get("better")})
        if run.trigger == "schedule" and comparison.get("better"):
            activate_version(version=mv, actor=None, reason="auto-promote")
        transaction.on_commit(lambda: events.run_event(run, "finished", metrics=metrics, comparison=comparison))
    return run


def fail_run(*, run_id: int, reason: str, cancelled: bool = False) -> None:
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("project").get(pk=run_id)
        if run.state not in OPEN_RUN_STATES:
            return
        run.state = TrainingRun.State.CANCELLED if cancelled else TrainingRun.State.FAILED
        run.error, run.finished = reason[:2000], timezone.now()
        run.save(update_fields=["state", "error", "finished"])
        record(actor=None, action="training.cancelled" if cancelled else "training.fail", target=run,
               project_id=run.project_id, data={"error": reason[:500]})
        transaction.on_commit(lambda: events.run_event(run, "cancelled" if cancelled else "failed"))


# --- periodic retraining ------------------------------------------------------------------------

BEAT_TASK_NAME = "nodus: periodic retraining check"


def ensure_beat_task() -> None:
    """The django-celery-beat entry that checks every schedule (every 15 minutes)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    interval, _ = IntervalSchedule.objects.get_or_create(every=15, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.update_or_create(
        name=BEAT_TASK_NAME,
        defaults={"task": "webapp.ml.tasks.check_training_schedules", "interval": interval, "enabled": True,
                  "queue": "default"},
    )


def update_schedule(
    *, project: Project, actor: Any, enabled: bool, nightly: bool, hour: int, min_new_labels: int,
    config: dict[str, Any] | None = None,
) -> TrainingSchedule:
    if not 0 <= hour <= 23:
        raise ValidationFailed("hour must be within 0..23 (UTC)")
    with transaction.atomic():
        schedule, _ = TrainingSchedule.objects.select_for_update().get_or_create(project=project)
        schedule.enabled, schedule.nightly, schedule.hour = enabled, nightly, hour
        schedule.min_new_labels = min_new_labels
        if config is not None:
            schedule.config = config
        schedule.save()
        ensure_beat_task()
        record(actor=actor, action="training.schedule", target=schedule, project_id=project.pk,
               data={"enabled": enabled, "nightly": nightly, "hour": hour, "min_new_labels": min_new_labels})
    return schedule


def due_reason(*, schedule: TrainingSchedule, now: Any = None) -> str | None:
    """Why a scheduled run should start now (None if not due)."""
    now = now or timezone.now()
    if not schedule.enabled:
        return None
    last = schedule.last_triggered
    if schedule.nightly and now.hour == schedule.hour and (last is None or now - last > timedelta(hours=20)):
        return "nightly"
    if schedule.min_new_labels:
        since = (
            TrainingRun.objects.filter(project_id=schedule.project_id, state=TrainingRun.State.SUCCEEDED)
            .order_by("-created").values_list("created", flat=True).first()
        )
        accepted = Task.objects.filter(project_id=schedule.project_id, state=Task.State.ACCEPTED,
                                       head_revision__isnull=False)  # what accepted_dataset() trains on
        if since is not None:
            accepted = accepted.filter(updated__gt=since)
        if accepted.count() >= schedule.min_new_labels:
            return f"{schedule.min_new_labels}+ new accepted labels"
    return None


def run_due_schedules(*, now: Any = None) -> list[int]:
    started: list[int] = []
    for schedule in TrainingSchedule.objects.filter(enabled=True).select_related("project"):
        reason = due_reason(schedule=schedule, now=now)
        if reason is None:
            continue
        try:
            run = start_training(project=schedule.project, actor=None, trigger="schedule",
                                 config={**schedule.config, "reason": reason})
        except Conflict as exc:
            log.info("scheduled retraining of %s skipped: %s", schedule.project.slug, exc.message)
            continue
        TrainingSchedule.objects.filter(pk=schedule.pk).update(last_triggered=now or timezone.now())
        started.append(run.pk)
    return started
