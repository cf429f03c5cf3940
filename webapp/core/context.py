from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def nodus(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    is_admin = bool(getattr(user, "is_superuser", False))
    if not is_admin and user.is_authenticated:
        from webapp.accounts.selectors import is_any_project_admin

        is_admin = is_any_project_admin(user=user)
    return {"NODUS_DEMO": settings.DEMO, "nodus_is_admin": is_admin}
