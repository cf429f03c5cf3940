from __future__ import annotations

from rest_framework import serializers

from .models import Instance, Patient, Series, Study


class PatientOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    num_studies = serializers.IntegerField(read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "project", "patient_id", "name", "birth_date", "sex", "num_studies", "created"]


class StudyOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    patient_id = serializers.CharField(source="patient.patient_id", read_only=True)
    patient_name = serializers.CharField(source="patient.name", read_only=True)

    class Meta:
        model = Study
        fields = [
            "id", "project", "study_instance_uid", "patient_id", "patient_name", "study_date",
            "accession_number", "description", "modalities", "num_series", "num_instances", "created",
        ]


class SeriesOut(serializers.ModelSerializer):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid", read_only=True)
    project = serializers.CharField(source="study.project.slug", read_only=True)
    patient_id = serializers.CharField(source="study.patient.patient_id", read_only=True)

    class Meta:
        model = Series
        fields = [
            "id", "project", "study", "study_instance_uid", "patient_id", "series_instance_uid",
            "modality", "series_number", "description", "body_part", "num_instances", "rows",
            "columns", "spacing", "orientation", "frame_of_reference_uid", "geometry_ok",
            "geometry_issue", "created",
        ]


class InstanceOut(serializers.ModelSerializer):
    class Meta:
        model = Instance
        fields = [
            "id", "series", "sop_instance_uid", "sop_class_uid", "instance_number",
            "transfer_syntax_uid", "sha256", "size", "rows", "columns", "number_of_frames",
            "slice_position",
        ]


class QuarantinedFileOut(serializers.ModelSerializer):
    project: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    uploaded_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        from .models import QuarantinedFile

        model = QuarantinedFile
        fields = ["id", "project", "filename", "rule", "reason", "sha256", "size", "source", "uploaded_by", "created"]


class UploadIn(serializers.Serializer):
    project = serializers.SlugField(max_length=16)
