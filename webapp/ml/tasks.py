"""Celery tasks of the gpu queue (routed by CELERY_TASK_ROUTES "webapp.ml.tasks.*").

They take primary keys, are idempotent (a redelivered task finds the row's state and does no
harm), ack late and are rejected back to the queue when their worker dies.
"""

from __future__ import annotations

from celery import shared_task

from . import engine, services


@shared_task(name="webapp.ml.tasks.run_inference_job", acks_late=True, reject_on_worker_lost=True)
def run_inference_job(*, job_id: int) -> None:
    engine.execute_job(job_id=job_id)


@shared_task(name="webapp.ml.tasks.run_training", acks_late=True, reject_on_worker_lost=True)
def run_training(*, run_id: int) -> None:
    engine.execute_training(run_id=run_id)


@shared_task(name="webapp.ml.tasks.validate_bundle", acks_late=True, reject_on_worker_lost=True)
def validate_bundle(*, model_version_id: int) -> None:
    engine.validate_uploaded(model_version_id=model_version_id)


@shared_task(name="webapp.ml.tasks.check_training_schedules", acks_late=True, reject_on_worker_lost=True)
def check_training_schedules() -> list[int]:
    """Beat entry (every 15 min, on the default queue): start the runs that are due."""
    return services.run_due_schedules()
