from __future__ import annotations

import django_filters as df

from .models import Finding, LabelRevision, Task


class TaskFilter(df.FilterSet):
    project = df.CharFilter(field_name="project__slug")
    modality = df.CharFilter(field_name="series__modality", lookup_expr="iexact")
    assignee = df.CharFilter(field_name="assignee__username")
    series_instance_uid = df.CharFilter(field_name="series__series_instance_uid")

    class Meta:
        model = Task
        fields = ["project", "state", "modality", "assignee", "series_instance_uid"]


class RevisionFilter(df.FilterSet):
    class Meta:
        model = LabelRevision
        fields = ["task"]


class FindingFilter(df.FilterSet):
    """Findings of the tasks' current (head) revisions, unless `revision` names another one."""

    series_instance_uid = df.CharFilter(field_name="task__series__series_instance_uid")
    project = df.CharFilter(field_name="task__project__slug")

    class Meta:
        model = Finding
        # detector=network|second_stage: which AI detector proposed the finding
        fields = ["task", "revision", "source", "status", "detector", "label_class", "series_instance_uid",
                  "project"]
