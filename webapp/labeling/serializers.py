from __future__ import annotations

from rest_framework import serializers

from .models import Project, Task


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
