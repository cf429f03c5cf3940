"""Role checks on one object's project: outsiders get 404 (existence hidden), members without
the role get 403."""

from __future__ import annotations

from typing import Any

from webapp.core.errors import Forbidden, NotFound

from .selectors import roles_in


def require_role(*, user: Any, project_id: int, roles: set[str] | frozenset[str], what: str) -> set[str]:
    held = roles_in(user=user, project_id=project_id)
    if not held:
        raise NotFound("not found")
    if not held & set(roles):
        raise Forbidden(f"{what} requires the role {' or '.join(sorted(roles))} in this project")
    return held


def require_site_admin(*, user: Any, what: str) -> None:
    if not user.is_superuser:
        raise Forbidden(f"{what} requires a site administrator")
