from __future__ import annotations

from django.conf import settings
from django.db import models


class ModelVersion(models.Model):
    class State(models.TextChoices):
        CANDIDATE = "candidate"
        ACTIVE = "active"
        RETIRED = "retired"
        DISCARDED = "discarded"

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    project = models.ForeignKey(
        "labeling.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="model_versions"
    )
    modality = models.CharField(max_length=16, blank=True)
    bundle_key = models.CharField(max_length=300, help_text="storage key of the bundle zip")
    sha256 = models.CharField(max_length=64)
    metadata = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.CANDIDATE, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "version"], name="model_version_unique"),
            # One active version per project, enforced by the database (services also lock the project).
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(state="active"), name="model_version_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class InferenceJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="inference_jobs")
    series = models.ForeignKey("imaging.Series", on_delete=models.CASCADE, related_name="inference_jobs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    task = models.ForeignKey("labeling.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result_revision = models.ForeignKey(
        "labeling.LabelRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["series", "model_version"], name="job_unique_series_model")
        ]


class TrainingRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        EVALUATING = "evaluating"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    project = models.ForeignKey("labeling.Project", on_delete=models.CASCADE, related_name="training_runs")
    base_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="training_runs")
    result_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED, db_index=True)
    dataset = models.JSONField(default=list, help_text="snapshot: ids of the accepted label revisions")
    config = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True, help_text="per-iteration loss and metrics")
    metrics = models.JSONField(default=dict, blank=True)
    comparison = models.JSONField(default=dict, blank=True, help_text="eval gate: candidate vs active")
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=16, default="manual")
    cancel_requested = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            # One open run per project (services take a row lock first and answer 409).
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(state__in=["queued", "running", "evaluating"]),
                name="training_run_one_open_per_project",
            )
        ]


class TrainingSchedule(models.Model):
    """Periodic retraining of one project, checked by a django-celery-beat task."""

    project = models.OneToOneField("labeling.Project", on_delete=models.CASCADE, related_name="training_schedule")
    enabled = models.BooleanField(default=False)
    nightly = models.BooleanField(default=True, help_text="start a run once a night at `hour` (UTC)")
    hour = models.PositiveSmallIntegerField(default=2)
    min_new_labels = models.PositiveIntegerField(
        default=0, help_text="also start a run once this many newly accepted tasks exist (0 = off)"
    )
    config = models.JSONField(default=dict, blank=True, help_text="fine-tuning config overrides")
    last_triggered = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"schedule of project {self.project_id}"
