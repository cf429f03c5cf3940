"""Walks every URL pattern of the project against tests/webapp/permissions.csv.

A route without a row fails the test, so a new route cannot ship without its permission rows.
Columns: route (Django pattern string, `admin/*` for the whole admin site), args (`kw=object` or
`kw=object.attr` resolved from the `world` fixture), method, role, expected status.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import ROLES, client_as

CSV = Path(__file__).with_name("permissions.csv")
# Patterns that are not routes of their own: DRF's format-suffix twins of every API route.
IGNORED = re.compile(r"\\\.\(\?P<format>|\.\(\?P<format>|<drf_format_suffix")


def walk(resolvers: list[Any], prefix: str = "") -> list[str]:
    routes: list[str] = []
    for p in resolvers:
        pattern = str(p.pattern)
        if isinstance(p, URLResolver):
            routes += walk(p.url_patterns, prefix + pattern)
        elif isinstance(p, URLPattern):
            routes.append(prefix + pattern)
    return routes


def normalise(route: str) -> str:
    """Regex patterns from routers become readable: ^api/v1/studies/(?P<pk>[^/.]+)/$ → ...<pk>/"""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", route)
    return route.replace("^", "").replace("$", "")


def project_routes() -> list[str]:
    out = set()
    for route in walk(get_resolver().url_patterns):
        if IGNORED.search(route):
            continue
        route = normalise(route)
        out.add("admin/*" if route.startswith("admin/") else route)
    return sorted(out)


def rows() -> list[dict[str, str]]:
    with CSV.open() as f:
        return list(csv.DictReader(f))


def test_every_route_has_permission_rows() -> None:
    covered = {r["route"] for r in rows()}
    missing = [r for r in project_routes() if r not in covered]
    assert not missing, f"routes without rows in {CSV.name}: {missing}"
    stale = sorted(covered - set(project_routes()))
    assert not stale, f"rows for routes that no longer exist: {stale}"


def test_every_row_names_a_known_role() -> None:
    assert {r["role"] for r in rows()} <= set(ROLES)


def resolve_args(spec: str, world: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for part in filter(None, spec.split(";")):
        key, expr = part.split("=", 1)
        name, _, attr = expr.partition(".")
        obj = world[name]
        kwargs[key] = getattr(obj, attr) if attr else obj.pk
    return kwargs


def build_path(route: str, kwargs: dict[str, Any]) -> str:
    path = "/" + route
    for key, value in kwargs.items():
        path = path.replace(f"<{key}>", str(value))
    assert "<" not in path, f"unresolved placeholder in {path}"
    return path


def admin_paths() -> list[str]:
    paths = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        paths.append(reverse("admin:{}_{}_changelist".format(*info)))
    return paths


@pytest.mark.django_db
@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r['method']} /{r['route']} as {r['role']}")
def test_route_answers_role_as_expected(row: dict[str, str], world: Any) -> None:
    from tests.factories import InstanceFactory

    world.objects.setdefault("instance", InstanceFactory(series=world["series"]))
    if "quarantined" not in world.objects:
        from webapp.imaging.models import QuarantinedFile

        world.objects["quarantined"] = QuarantinedFile.objects.create(
            project=world["project"], filename="bad.dcm", reason="not DICOM", rule="not_dicom", source="upload")
    if "revision" not in world.objects:
        from tests.factories import make_revision

        world.objects["revision"] = make_revision(task=world["task"])
        world.objects["finding"] = world.objects["revision"].findings.get()
    if "model_version" not in world.objects:
        from tests.webapp.ml.helpers import add_loop_objects

        add_loop_objects(world)
    world.objects.update(getattr(world, "extra", {}))
    client = client_as(world.users[row["role"]])
    expected = int(row["expected"])
    if row["route"] == "admin/*":
        paths = admin_paths()
    else:
        paths = [build_path(row["route"], resolve_args(row["args"], world))]
    for path in paths:
        response = getattr(client, row["method"].lower())(path, **_body(row["method"]))
        assert response.status_code == expected, (
            f"{row['method']} {path} as {row['role']}: {response.status_code}, expected {expected}: "
            f"{getattr(response, 'content', b'')[:300]!r}"
        )


def _body(method: str) -> dict[str, Any]:
    return {"data": {}, "format": "json"} if method in {"POST", "PUT", "PATCH"} else {}
