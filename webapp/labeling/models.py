from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from .schema import LUNG_NODULE_SCHEMA


def default_schema() -> dict:
    return dict(LUNG_NODULE_SCHEMA)


class Project(models.Model):
    slug = models.SlugField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$")],
        help_text="also the DICOM AE title (upper-cased) for C-STORE into this project",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    label_schema = models.JSONField(default=default_schema)
    deidentify = models.BooleanField(default=False, help_text="apply PS3.15 basic profile at ingest")
    auto_preannotate = models.BooleanField(default=True)
    active_model = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Task(models.Model):
    class State(models.TextChoices):
        NEW = "new"
        IN_PROGRESS = "in_progress"
        SUBMITTED = "submitted"
        RETURNED = "returned"
        ACCEPTED = "accepted"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    series = models.ForeignKey("imaging.Series", on_delete=models.CASCADE, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.NEW, db_index=True)
    head_revision = models.ForeignKey(
        "LabelRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]
        indexes = [models.Index(fields=["assignee", "state", "created"])]

    def __str__(self) -> str:
        return f"task {self.pk} ({self.state})"


class LabelRevision(models.Model):
    """Immutable label volume of a task; authored by a user or a model version."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="revisions")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    storage_key = models.CharField(max_length=300)
    encoding = models.CharField(max_length=32, help_text="codec of the stored label volume")
    shape = models.JSONField(help_text="[slices, rows, columns]")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"rev {self.pk} of task {self.task_id}"


class Finding(models.Model):
    """One lesion: a segment (label value) of a revision with class, attributes and measurements."""

    class Source(models.TextChoices):
        AI = "ai"
        HUMAN = "human"

    class Status(models.TextChoices):
        SUGGESTED = "suggested"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        EDITED = "edited"

    class Detector(models.TextChoices):
        NETWORK = "network", "network"
        SECOND_STAGE = "second_stage", "blob stage"  # what reviewers see on the badge

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="findings")
    revision = models.ForeignKey(LabelRevision, on_delete=models.CASCADE, related_name="findings")
    segment = models.PositiveIntegerField(help_text="label value in the revision's volume")
    label_class = models.CharField(max_length=64)
    attributes = models.JSONField(default=dict, blank=True)
    centroid_voxel = models.JSONField(null=True, blank=True, help_text="[z, y, x]")
    centroid_mm = models.JSONField(null=True, blank=True, help_text="patient [x, y, z]")
    diameter_mm = models.FloatField(null=True, blank=True)
    volume_mm3 = models.FloatField(null=True, blank=True)
    probability = models.FloatField(null=True, blank=True)
    detector = models.CharField(
        max_length=16, choices=Detector.choices, blank=True, default="",
        help_text="the AI detector that proposed the finding: network (segmentation) or second_stage "
                  "(blob + patch classifier); empty for human findings and for results from older models",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HUMAN, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACCEPTED, db_index=True)
    model_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task", "segment"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "segment"], name="finding_unique_segment")
        ]

    def __str__(self) -> str:
        return f"finding {self.segment} ({self.label_class}, {self.source}/{self.status})"


class Review(models.Model):
    class Decision(models.TextChoices):
        COMMENT = "comment"
        ACCEPT_FINDING = "accept_finding"
        REJECT_FINDING = "reject_finding"
        ACCEPT_TASK = "accept_task"
        RETURN_TASK = "return_task"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    finding = models.ForeignKey(Finding, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    slice_index = models.IntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]
