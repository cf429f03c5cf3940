"""Foundation behaviour: audit is append-only, settings refuse default secrets, auth and bad input
get clear 4xx answers, catalog queries do not grow with page size, /healthz reports components."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import ROOT, client_as
from tests.factories import PASSWORD, SeriesFactory, StudyFactory, UserFactory
from webapp.audit.models import AuditEvent
from webapp.audit.services import record


@pytest.mark.django_db
def test_audit_rows_cannot_be_updated_or_deleted_by_the_database() -> None:
    event = record(actor=None, action="test.event", data={"x": 1})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.action == "test.event"


@pytest.mark.django_db
def test_login_and_role_changes_are_audited(world: Any) -> None:
    from webapp.accounts.models import Role
    from webapp.accounts.services import grant_role

    client = APIClient()
    assert client.login(username="annotator", password=PASSWORD)
    assert AuditEvent.objects.filter(action="auth.login", actor=world.users["annotator"]).exists()
    grant_role(actor=world.users["project_admin"], user=world.users["annotator"],
               project=world["project"], role=Role.REVIEWER)
    ev = AuditEvent.objects.get(action="membership.grant", actor=world.users["project_admin"])
    assert ev.actor == world.users["project_admin"] and ev.project_id == world["project"].pk


def _settings_import(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "NODUS_DEMO"}}
    return subprocess.run(
        [sys.executable, "-c", "import webapp.config.settings as s; print(s.SECRET_KEY[:4], s.DEBUG)"],
        cwd=ROOT, env={**clean, "DATABASE_URL": "postgres://x@127.0.0.1/x", **env},
        capture_output=True, text=True, timeout=60,
    )


def test_settings_refuse_a_missing_secret_outside_demo_mode() -> None:
    result = _settings_import({})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_settings_refuse_the_demo_secret_outside_demo_mode() -> None:
    result = _settings_import({"SECRET_KEY": "nodus-demo-only-not-secret"})
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_settings_accept_demo_mode_and_keep_debug_off_by_default() -> None:
    result = _settings_import({"NODUS_DEMO": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["nodu", "False"]


@pytest.mark.django_db
def test_token_endpoint_issues_a_token_that_authenticates(world: Any) -> None:
    client = APIClient()
    r = client.post("/api/v1/auth/token/", {"username": "reviewer", "password": PASSWORD}, format="json")
    assert r.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {r.json()['token']}")
    assert client.get("/api/v1/projects/").json()["count"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,content_type",
    [
        ('{"username": "reviewer", "password": "wrong"}', "application/json"),
        ('{"username": "reviewer", "pass', "application/json"),
        ("[]", "application/json"),
        ("username=reviewer", "application/x-www-form-urlencoded"),
    ],
    ids=["wrong-password", "malformed-json", "wrong-shape", "missing-password"],
)
def test_token_endpoint_refuses_bad_input_with_a_reason(world: Any, body: str, content_type: str) -> None:
    r = APIClient().post("/api/v1/auth/token/", body, content_type=content_type)
    assert r.status_code == 400
    assert r.json()["detail"]


@pytest.mark.django_db
def test_expired_and_unknown_tokens_get_401(world: Any) -> None:
    token = Token.objects.create(user=world.users["reviewer"])
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=400))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    r = client.get("/api/v1/studies/")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert client.get("/api/v1/studies/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,status",
    [("?page=999", 404), ("?page=abc", 404), ("?colour=red", 400), ("?date_from=yesterday", 400),
     ("?page_size=100000", 200)],
)
def test_catalog_bad_query_parameters_get_4xx_with_reason(world: Any, query: str, status: int) -> None:
    r = client_as(world.users["annotator"]).get("/api/v1/studies/" + query)
    assert r.status_code == status
    if status >= 400:
        assert r.json()["detail"]


@pytest.mark.django_db
def test_catalog_filters_and_counts(world: Any) -> None:
    project = world["project"]
    StudyFactory(patient__project=project, patient__patient_id="P-XYZ", accession_number="A1",
                 study_date="2024-03-01", modalities="MR")
    client = client_as(world.users["annotator"])
    assert client.get("/api/v1/studies/?patient_id=P-XYZ").json()["count"] == 1
    assert client.get("/api/v1/studies/?modality=MR").json()["count"] == 1
    assert client.get("/api/v1/studies/?date_from=2024-02-01&date_to=2024-03-31&accession=A1").json()["count"] == 1
    assert client.get("/api/v1/studies/").json()["count"] == 2  # the world's study + this one
    # the outsider's project is invisible
    assert client_as(world.users["outsider"]).get("/api/v1/studies/?patient_id=P-XYZ").json()["count"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("route", ["/api/v1/studies/", "/api/v1/series/", "/api/v1/patients/", "/api/v1/tasks/"])
def test_catalog_query_count_does_not_grow_with_page_size(world: Any, route: str) -> None:
    from tests.factories import TaskFactory

    for _ in range(3):
        TaskFactory(series=SeriesFactory(study__patient__project=world["project"]))
    client = client_as(world.users["site_admin"])

    def count(n: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{route}?page_size={n}").status_code == 200
        return len(ctx.captured_queries)

    assert count(1) == count(50)
    for _ in range(10):
        TaskFactory(series=SeriesFactory(study__patient__project=world["project"]))
    assert count(50) == count(1)


@pytest.mark.django_db
def test_html_in_patient_name_is_escaped_on_pages(world: Any) -> None:
    StudyFactory(patient__project=world["project"], patient__name="<script>alert(1)</script>")
    html = client_as(world.users["annotator"]).get("/studies/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.django_db
def test_pages_send_security_headers(world: Any) -> None:
    r = client_as(world.users["annotator"]).get("/")
    assert r["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in r["Content-Security-Policy"]
    assert r["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_healthz_reports_every_component() -> None:
    body = APIClient().get("/healthz").json()
    assert body["database"]["ok"] and body["broker"]["ok"] and body["channel_layer"]["ok"]
    assert "workers" in body and body["status"] in {"ok", "degraded"}


@pytest.mark.django_db
def test_healthz_does_not_depend_on_the_shared_layer_s_event_loop() -> None:
    """The process-wide channel layer keeps asyncio state bound to the loop that used it (here
    channels_redis's receive lock, left held in another loop as a cancelled websocket receive
    left it in CI): the probe must still report the layer's own health, not that state."""
    import asyncio

    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    loop = asyncio.new_event_loop()
    # a receive left waiting in another loop (as a websocket test's consumer can leave it)
    channel = loop.run_until_complete(layer.new_channel())
    waiting = loop.create_task(layer.receive(channel))
    loop.run_until_complete(asyncio.sleep(0.2))
    try:
        r = APIClient().get("/healthz")
        assert r.status_code == 200, r.content
        assert r.json()["channel_layer"] == {"ok": True}
    finally:
        waiting.cancel()
        loop.run_until_complete(asyncio.gather(waiting, return_exceptions=True))
        loop.close()


@pytest.mark.django_db
def test_annotator_sees_only_assigned_tasks(world: Any) -> None:
    ids = {t["id"] for t in client_as(world.users["assignee"]).get("/api/v1/tasks/").json()["results"]}
    assert ids == {world["task"].pk}
    assert client_as(world.users["annotator"]).get("/api/v1/tasks/").json()["count"] == 0
    assert client_as(world.users["reviewer"]).get("/api/v1/tasks/").json()["count"] == 1
    unused = UserFactory()
    assert client_as(unused).get("/api/v1/tasks/").json()["count"] == 0
