"""Live events of jobs and training runs (design.md §4): published after commit, best effort.

Every event is also persisted on the job/run row first, so a client that reconnects or sees a gap
in `seq` re-reads the state over REST.
"""

from __future__ import annotations

from typing import Any

from webapp.realtime.publish import publish

from .models import InferenceJob, TrainingRun


def job_payload(job: InferenceJob) -> dict[str, Any]:
    return {
        "job": job.pk,
        "series": job.series.series_instance_uid,
        "task": job.task_id,
        "model_version": job.model_version_id,
        "state": job.state,
        "progress": round(job.progress, 4),
        "stage": job.stage,
        "error": job.error,
        "attempts": job.attempts,
        "result_revision": job.result_revision_id,
    }


def job_event(job: InferenceJob, type_: str, **extra: Any) -> None:
    """`job.<type>` on job.<id>, series.<uid> and project.<slug>."""
    data = {**job_payload(job), **extra}
    for topic in (f"job.{job.pk}", f"series.{job.series.series_instance_uid}", f"project.{job.project.slug}"):
        publish(topic, f"job.{type_}", data)


def run_payload(run: TrainingRun) -> dict[str, Any]:
    return {
        "run": run.pk,
        "state": run.state,
        "base_version": run.base_version_id,
        "result_version": run.result_version_id,
        "error": run.error,
        "trigger": run.trigger,
    }


def run_event(run: TrainingRun, type_: str, **extra: Any) -> None:
    """Details on training.<id> (admins); a short state change on project.<slug>."""
    publish(f"training.{run.pk}", f"training.{type_}", {**run_payload(run), **extra})
    if type_ != "progress":
        publish(f"project.{run.project.slug}", f"training.{type_}", run_payload(run))


def project_event(slug: str, type_: str, data: dict[str, Any]) -> None:
    publish(f"project.{slug}", type_, data)
