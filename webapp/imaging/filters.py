from __future__ import annotations

import django_filters as df

from .models import Patient, Series, Study


class PatientFilter(df.FilterSet):
    project = df.CharFilter(field_name="project__slug")
    patient_id = df.CharFilter(lookup_expr="iexact")
    name = df.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Patient
        fields = ["project", "patient_id", "name", "sex"]


class StudyFilter(df.FilterSet):
    project = df.CharFilter(field_name="project__slug")
    patient_id = df.CharFilter(field_name="patient__patient_id", lookup_expr="iexact")
    patient_name = df.CharFilter(field_name="patient__name", lookup_expr="icontains")
    modality = df.CharFilter(field_name="modalities", lookup_expr="icontains")
    date_from = df.DateFilter(field_name="study_date", lookup_expr="gte")
    date_to = df.DateFilter(field_name="study_date", lookup_expr="lte")
    accession = df.CharFilter(field_name="accession_number", lookup_expr="iexact")
    description = df.CharFilter(lookup_expr="icontains")
    study_instance_uid = df.CharFilter()

    class Meta:
        model = Study
        fields = [
            "project", "patient_id", "patient_name", "modality", "date_from", "date_to",
            "accession", "description", "study_instance_uid",
        ]


class SeriesFilter(df.FilterSet):
    project = df.CharFilter(field_name="study__project__slug")
    study_instance_uid = df.CharFilter(field_name="study__study_instance_uid")
    series_instance_uid = df.CharFilter()
    modality = df.CharFilter(lookup_expr="iexact")
    description = df.CharFilter(lookup_expr="icontains")
    patient_id = df.CharFilter(field_name="study__patient__patient_id", lookup_expr="iexact")

    class Meta:
        model = Series
        fields = [
            "project", "study", "study_instance_uid", "series_instance_uid", "modality",
            "description", "patient_id", "geometry_ok",
        ]
