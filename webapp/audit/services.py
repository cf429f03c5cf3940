from __future__ import annotations

from typing import Any

from django.db import models

from .models import AuditEvent


def record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    project_id: int | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one audit row; `actor` is a user, None (system) or anything with a str()."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = actor_label or (getattr(actor, "get_username", lambda: None)() or str(actor or "system"))
    if project_id is None and target is not None:
        project_id = getattr(target, "project_id", None)
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label[:200],
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        project_id=project_id,
        data=data or {},
        ip=ip,
    )
