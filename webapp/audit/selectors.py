from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from webapp.accounts.selectors import admin_project_ids

from .models import AuditEvent


def audit_events_for(*, user: Any) -> QuerySet[AuditEvent]:
    """Site admins see everything; project admins see their projects' events."""
    if user.is_superuser:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(Q(project_id__in=admin_project_ids(user=user)))
