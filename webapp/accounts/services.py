from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.db import transaction
from rest_framework.authtoken.models import Token

from webapp.audit.services import record
from webapp.core.errors import DomainError
from webapp.labeling.models import Project

from .models import Membership


class InvalidCredentials(DomainError):
    status_code = 400
    code = "invalid_credentials"


def issue_token(*, username: str, password: str, ip: str | None = None) -> Token:
    """Exchange a password for an API token; a fresh token replaces an expired or old one."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        record(actor=None, action="auth.token_refused", data={"username": username[:150]}, ip=ip)
        raise InvalidCredentials("unable to log in with the provided credentials")
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        record(actor=user, action="auth.token_issued", ip=ip)
    return token


def grant_role(*, actor: Any, user: Any, project: Project, role: str) -> Membership:
    with transaction.atomic():
        existing = Membership.objects.filter(user=user, project=project, role=role).first()
        if existing is not None:
            return existing
        membership = Membership(user=user, project=project, role=role)
        membership._audit_actor = actor  # type: ignore[attr-defined]  # read by the audit signal
        membership.save()
    return membership


def revoke_role(*, actor: Any, membership: Membership) -> None:
    with transaction.atomic():
        membership._audit_actor = actor  # type: ignore[attr-defined]  # read by the audit signal
        membership.delete()
