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
            models.UniqueConstraint(fields=["project", "name", "version"], name="model_version_unique")
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
