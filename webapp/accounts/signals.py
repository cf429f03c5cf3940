from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from webapp.audit.services import record

from .models import Membership


def _ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(actor=user, action="auth.login", ip=_ip(request))


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(actor=user, action="auth.logout", ip=_ip(request))


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    record(actor=None, action="auth.login_failed", ip=_ip(request),
           data={"username": str(credentials.get("username", ""))[:150]})


# Role changes made in the Django admin go through the ORM, not our services: audit them here too.
@receiver(post_save, sender=Membership)
def audit_membership_saved(sender: Any, instance: Membership, created: bool, **kwargs: Any) -> None:
    actor = getattr(instance, "_audit_actor", None)
    record(actor=actor, actor_label=None if actor else "admin", action="membership.grant",
           target=instance,
           project_id=instance.project_id, data={"user_id": instance.user_id, "role": instance.role,
                                                 "created": created})


@receiver(post_delete, sender=Membership)
def audit_membership_deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    actor = getattr(instance, "_audit_actor", None)
    record(actor=actor, actor_label=None if actor else "admin", action="membership.revoke",
           target=instance,
           project_id=instance.project_id, data={"user_id": instance.user_id, "role": instance.role})
