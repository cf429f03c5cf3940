from __future__ import annotations

from typing import Any

from webapp.core.viewsets import ScopedReadOnlyViewSet

from . import selectors
from .filters import PatientFilter, SeriesFilter, StudyFilter
from .serializers import InstanceOut, PatientOut, SeriesOut, StudyOut


class PatientViewSet(ScopedReadOnlyViewSet):
    serializer_class = PatientOut
    filterset_class = PatientFilter
    ordering_fields = ["patient_id", "name", "created"]
    search_fields = ["patient_id", "name"]

    def scoped_queryset(self) -> Any:
        return selectors.patients_for(user=self.request.user).order_by("patient_id", "id")


class StudyViewSet(ScopedReadOnlyViewSet):
    serializer_class = StudyOut
    filterset_class = StudyFilter
    ordering_fields = ["study_date", "created", "accession_number", "patient__patient_id"]
    search_fields = ["patient__patient_id", "patient__name", "accession_number", "description"]

    def scoped_queryset(self) -> Any:
        return selectors.studies_for(user=self.request.user).order_by("-study_date", "-id")


class SeriesViewSet(ScopedReadOnlyViewSet):
    serializer_class = SeriesOut
    filterset_class = SeriesFilter
    ordering_fields = ["series_number", "created", "modality"]
    search_fields = ["description", "series_instance_uid"]

    def scoped_queryset(self) -> Any:
        return selectors.series_for(user=self.request.user).order_by("study_id", "series_number", "id")


class InstanceViewSet(ScopedReadOnlyViewSet):
    serializer_class = InstanceOut
    filterset_fields = ["series"]
    ordering_fields = ["slice_position", "instance_number"]

    def scoped_queryset(self) -> Any:
        return selectors.instances_for(user=self.request.user).order_by("series_id", "slice_position", "id")
