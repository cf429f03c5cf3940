from __future__ import annotations

from rest_framework import serializers

from .models import Finding, LabelRevision, Project, Task


class ProjectOut(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "label_schema", "deidentify", "auto_preannotate", "created"]


class TaskOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)
    series_instance_uid = serializers.CharField(source="series.series_instance_uid", read_only=True)
    study_instance_uid = serializers.CharField(source="series.study.study_instance_uid", read_only=True)
    modality = serializers.CharField(source="series.modality", read_only=True)
    patient_id = serializers.CharField(source="series.study.patient.patient_id", read_only=True)

    class Meta:
        model = Task
        fields = [
            "id", "project", "series", "series_instance_uid", "study_instance_uid", "modality",
            "patient_id", "assignee", "state", "head_revision", "created", "updated", "submitted_at",
        ]


class FindingOut(serializers.ModelSerializer):
    series_instance_uid = serializers.CharField(source="task.series.series_instance_uid", read_only=True)
    # what reviewers see for the detector (Finding.Detector's labels, e.g. "blob stage")
    detector_label = serializers.CharField(source="get_detector_display", read_only=True)
    model_version: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id", "task", "revision", "series_instance_uid", "segment", "label_class", "attributes",
            "centroid_voxel", "centroid_mm", "diameter_mm", "volume_mm3", "probability", "detector",
            "detector_label", "source", "status", "model_version", "created", "updated",
        ]
        read_only_fields = ["detector"]  # set from the model's output by complete_job, never by a client


class RevisionOut(serializers.ModelSerializer):
    author: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_head = serializers.SerializerMethodField()

    class Meta:
        model = LabelRevision
        fields = [
            "id", "task", "parent", "author", "model_version", "encoding", "shape", "sha256", "size",
            "message", "created", "is_head",
        ]

    def get_is_head(self, obj: LabelRevision) -> bool:
        return bool(obj.task.head_revision_id == obj.pk)


class FindingIn(serializers.Serializer):
    segment = serializers.IntegerField(min_value=1, max_value=255)
    label_class = serializers.CharField(max_length=64)
    attributes = serializers.DictField(required=False, default=dict)


class LabelSaveIn(serializers.Serializer):
    series_instance_uid = serializers.CharField(max_length=64)
    encoding = serializers.CharField(max_length=32)
    dtype = serializers.CharField(max_length=16)
    shape = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=3, max_length=3)
    data = serializers.CharField(trim_whitespace=False)  # type: ignore[assignment]
    findings = FindingIn(many=True)
    message = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LabelsOut(serializers.Serializer):
    """The task's head: revision (or null), findings, and the grid a volume must have."""

    task = serializers.IntegerField()
    state = serializers.CharField()
    head = RevisionOut(allow_null=True)
    findings = FindingOut(many=True)
    shape = serializers.ListField(child=serializers.IntegerField())
    spacing = serializers.ListField(child=serializers.FloatField())
