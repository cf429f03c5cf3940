from __future__ import annotations

import django_filters as df

from .models import Task


class TaskFilter(df.FilterSet):
    project = df.CharFilter(field_name="project__slug")
    modality = df.CharFilter(field_name="series__modality", lookup_expr="iexact")
    assignee = df.CharFilter(field_name="assignee__username")
    series_instance_uid = df.CharFilter(field_name="series__series_instance_uid")

    class Meta:
        model = Task
        fields = ["project", "state", "modality", "assignee", "series_instance_uid"]
