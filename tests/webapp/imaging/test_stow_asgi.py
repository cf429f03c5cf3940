"""STOW-RS through the ASGI application as daphne drives it (the body in 8 KB `http.request`
messages): the body is read as the view consumes it, never spooled, and every check of the
Django path still holds (auth by token or session + CSRF, roles per project, JSON errors, bounded
parts, interrupted bodies, conflicting bytes → 409 + quarantine)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import PASSWORD
from webapp.config.asgi import application
from webapp.core.storage import get_storage
from webapp.imaging.dicomweb.stream import is_stow
from webapp.imaging.models import Instance, QuarantinedFile

from .conftest import read, to_bytes

pytestmark = pytest.mark.django_db(transaction=True)

BOUNDARY = "asgi-stow-boundary"
CTYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def multipart(parts: list[bytes], *, close: bool = True, ctype: str = "application/dicom") -> bytes:
    body = b"".join(f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\nContent-Location: part-{n}\r\n\r\n".encode() + data
                    + b"\r\n" for n, data in enumerate(parts, 1))
    return body + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


class Response:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = messages[0]
        self.status: int = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        self.content = b"".join(m.get("body", b"") for m in messages[1:])

    def json(self) -> Any:
        return json.loads(self.content)


def call(path: str, body: bytes, *, headers: dict[str, str] | None = None, method: str = "POST",
         chunk: int = 8192, disconnect_after: int | None = None) -> Response | None:
    """Run one request through `webapp.config.asgi.application`; None when no response was sent
    (the client disconnected). `disconnect_after`: bytes of body delivered before the client goes."""
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        data = body if disconnect_after is None else body[:disconnect_after]
        queue: list[dict[str, Any]] = [
            {"type": "http.request", "body": data[i:i + chunk], "more_body": i + chunk < len(data)}
            for i in range(0, len(data), chunk)] or [{"type": "http.request", "body": b"", "more_body": False}]
        if disconnect_after is not None:
            queue[-1]["more_body"] = True
            queue.append({"type": "http.disconnect"})
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if queue:
                return queue.pop(0)
            await finished.wait()  # the client stays until the response is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished.set()

        raw = {"host": "testserver", **(headers or {})}
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "server": ("testserver", 80), "client": ("127.0.0.1", 50000),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()]}
        await asyncio.wait_for(application(scope, receive, send), timeout=120)

    asyncio.new_event_loop().run_until_complete(run())
    return Response(sent) if sent else None


def token_for(user: Any) -> dict[str, str]:
    return {"authorization": f"Token {Token.objects.create(user=user).key}"}


def stow_url(world: Any, study: str | None = None) -> str:
    return f"/projects/{world['project'].slug}/dicomweb/studies" + (f"/{study}" if study else "")


def assert_json_error(response: Response | None, status: int) -> dict[str, Any]:
    assert response is not None and response.status == status, response and response.content[:300]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["detail"]
    return body


@pytest.fixture
def no_spooling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any request whose body Django would spool (STOW-RS must be read as it arrives)."""

    async def spooled(self: Any, receive: Any) -> Any:
        raise AssertionError("a STOW-RS body was spooled")

    monkeypatch.setattr(ASGIHandler, "read_body", spooled)


@pytest.mark.parametrize(("path", "method", "expected"), [
    ("/dicomweb/studies", "POST", True),
    ("/dicomweb/studies/1.2.3", "POST", True),
    ("/projects/demo-lung/dicomweb/studies", "POST", True),
    ("/projects/demo-lung/dicomweb/studies/1.2.3", "POST", True),
    ("/projects/demo-lung/dicomweb/studies", "GET", False),
    ("/projects/demo-lung/dicomweb/studies/1.2.3/series", "POST", False),
    ("/api/v1/auth/token/", "POST", False),
    ("/upload/", "POST", False),
])
def test_only_stow_routes_are_streamed(path, method, expected):
    assert is_stow({"type": "http", "method": method, "path": path}) is expected


def test_stow_with_a_token_stores_the_series_without_spooling_the_body(world, phantom_series, no_spooling):
    paths = phantom_series(slices=5, patient_id="ASGI-STOW-1")
    response = call(stow_url(world), multipart([p.read_bytes() for p in paths]), headers={
        "content-type": CTYPE, **token_for(world.users["annotator"])})
    assert response is not None and response.status == 200, response and response.content[:500]
    assert response.headers["content-type"].startswith("application/dicom+json")
    stored = response.json()["00081199"]["Value"]
    assert [item["00081155"]["Value"][0] for item in stored] == [read(p).SOPInstanceUID for p in paths]
    for p in paths:
        inst = Instance.objects.get(sop_instance_uid=read(p).SOPInstanceUID)
        assert inst.series.study.project == world["project"]
        assert get_storage().read(inst.storage_key) == p.read_bytes()  # bytes as received


def test_stow_to_a_study_with_odd_sized_body_messages(world, phantom_series, no_spooling):
    """The multipart reader does not depend on how the server cuts the body."""
    (path,) = phantom_series(slices=1, patient_id="ASGI-STOW-2")
    ds = read(path)
    response = call(stow_url(world, ds.StudyInstanceUID), multipart([path.read_bytes()]), chunk=997,
                    headers={"content-type": CTYPE, **token_for(world.users["annotator"])})
    assert response is not None and response.status == 200
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()


def test_session_auth_needs_the_csrf_token(world, phantom_series, no_spooling):
    (path,) = phantom_series(slices=1, patient_id="ASGI-STOW-3")
    client = Client()
    client.force_login(world.users["annotator"])
    session = client.cookies["sessionid"].value
    csrf = "a" * 32
    body = multipart([path.read_bytes()])
    refused = call(stow_url(world), body, headers={"content-type": CTYPE, "cookie": f"sessionid={session}"})
    assert "CSRF" in assert_json_error(refused, 403)["detail"]
    assert not Instance.objects.filter(sop_instance_uid=read(path).SOPInstanceUID).exists()
    ok = call(stow_url(world), body, headers={"content-type": CTYPE, "cookie": f"sessionid={session}; csrftoken={csrf}",
                                              "x-csrftoken": csrf})
    assert ok is not None and ok.status == 200, ok and ok.content[:300]


def test_unauthenticated_is_401_json(world, phantom_series):
    (path,) = phantom_series(slices=1, patient_id="ASGI-STOW-4")
    for headers in ({}, {"authorization": "Token not-a-real-token"}):
        response = call(stow_url(world), multipart([path.read_bytes()]), headers={"content-type": CTYPE, **headers})
        assert_json_error(response, 401)
    assert not Instance.objects.filter(sop_instance_uid=read(path).SOPInstanceUID).exists()


@pytest.mark.parametrize(("role", "root", "status"), [
    ("reviewer", "project", 403),     # a member without a writing role
    ("outsider", "project", 404),     # not a member: the project is not revealed
    ("annotator", "global", 403),     # the global root is for site admins
])
def test_roles_are_checked_per_project(world, phantom_series, role, root, status):
    (path,) = phantom_series(slices=1, patient_id=f"ASGI-ROLE-{role}")
    url = stow_url(world) if root == "project" else "/dicomweb/studies"
    response = call(url, multipart([path.read_bytes()]),
                    headers={"content-type": CTYPE, **token_for(world.users[role])})
    assert_json_error(response, status)
    assert not Instance.objects.filter(sop_instance_uid=read(path).SOPInstanceUID).exists()


@pytest.mark.parametrize("ctype", [
    'multipart/related; type="application/dicom"',  # no boundary
    "application/dicom",
    'multipart/related; type="application/dicom+xml"; boundary=' + BOUNDARY,
])
def test_wrong_content_type_or_missing_boundary_is_415_json(world, phantom_series, ctype):
    (path,) = phantom_series(slices=1, patient_id="ASGI-CT")
    response = call(stow_url(world), multipart([path.read_bytes()]), headers={
        "content-type": ctype, **token_for(world.users["annotator"])})
    assert_json_error(response, 415)


def test_a_body_without_parts_is_400_json(world):
    headers = {"content-type": CTYPE, **token_for(world.users["annotator"])}
    for body in (b"", b"no multipart delimiter anywhere\r\n" * 100, f"--{BOUNDARY}--\r\n".encode()):
        body_json = assert_json_error(call(stow_url(world), body, headers=headers), 400)
        assert "part" in body_json["detail"]


def test_a_part_whose_headers_never_end_is_refused_and_quarantined(world):
    body = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n".encode() + b"X-Filler: y\r\n" * 50
    response = call(stow_url(world), body, headers={"content-type": CTYPE, **token_for(world.users["annotator"])})
    assert response is not None and response.status == 400
    (failed,) = response.json()["00081198"]["Value"]
    assert "interrupted" in failed["00000902"]["Value"][0]


def test_truncated_body_keeps_the_complete_parts_and_quarantines_the_partial_one(world, phantom_series):
    first, second = (p.read_bytes() for p in phantom_series(slices=2, patient_id="ASGI-TRUNC"))
    body = multipart([first, second], close=False)[: -len(second) // 2]
    response = call(stow_url(world), body, headers={"content-type": CTYPE, **token_for(world.users["annotator"])})
    assert response is not None and response.status == 202
    assert "interrupted" in response.json()["00081198"]["Value"][0]["00000902"]["Value"][0]
    assert Instance.objects.filter(sop_instance_uid=read(first).SOPInstanceUID).exists()
    assert not Instance.objects.filter(sop_instance_uid=read(second).SOPInstanceUID).exists()
    assert QuarantinedFile.objects.filter(rule="interrupted", source="stow").exists()


def test_client_disconnect_in_the_middle_indexes_nothing_partial(world, phantom_series):
    paths = phantom_series(slices=3, patient_id="ASGI-DISC")
    data = [p.read_bytes() for p in paths]
    body = multipart(data)
    cut = len(multipart(data[:2], close=False)) + len(data[2]) // 2  # inside the third part
    response = call(stow_url(world), body, disconnect_after=cut,
                    headers={"content-type": CTYPE, **token_for(world.users["annotator"])})
    assert response is None  # nobody left to answer
    assert Instance.objects.filter(sop_instance_uid__in=[read(d).SOPInstanceUID for d in data[:2]]).count() == 2
    assert not Instance.objects.filter(sop_instance_uid=read(data[2]).SOPInstanceUID).exists()
    assert QuarantinedFile.objects.filter(rule="interrupted", source="stow").exists()


def test_a_part_over_the_limit_is_413_json_without_buffering_it(world, phantom_series, settings):
    settings.NODUS_MAX_UPLOAD_BYTES = 64 * 1024
    (path,) = phantom_series(slices=1, patient_id="ASGI-BIG")
    huge = b"\0" * (4 * 1024 * 1024)  # no delimiter: the reader must give up after the limit
    response = call(stow_url(world), multipart([huge]), headers={
        "content-type": CTYPE, **token_for(world.users["annotator"])})
    assert assert_json_error(response, 413)["error"] == "too_large"
    assert not Instance.objects.filter(sop_instance_uid=read(path).SOPInstanceUID).exists()


def test_conflicting_bytes_are_409_quarantined_and_the_stored_file_is_untouched(world, phantom_series):
    (path,) = phantom_series(slices=1, patient_id="ASGI-409")
    original = path.read_bytes()
    headers = {"content-type": CTYPE, **token_for(world.users["annotator"])}
    assert call(stow_url(world), multipart([original]), headers=headers).status == 200  # type: ignore[union-attr]
    ds = read(original)
    ds.InstanceNumber = 999
    changed = to_bytes(ds)
    response = call(stow_url(world), multipart([changed]), headers=headers)
    assert response is not None and response.status == 409
    (failed,) = response.json()["00081198"]["Value"]
    assert "conflict" in failed["00000902"]["Value"][0]
    inst = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert inst.sha256 == hashlib.sha256(original).hexdigest()
    assert get_storage().read(inst.storage_key) == original
    q = QuarantinedFile.objects.get(rule="conflict", source="stow")
    assert q.sha256 == hashlib.sha256(changed).hexdigest() and q.uploaded_by == world.users["annotator"]
    # The same bytes again: already present, not a conflict.
    again = call(stow_url(world), multipart([original]), headers=headers)
    assert again is not None and again.status == 200


def test_other_posts_still_get_their_body(world):
    body = json.dumps({"username": "annotator", "password": PASSWORD}).encode()
    response = call("/api/v1/auth/token/", body, headers={"content-type": "application/json",
                                                          "content-length": str(len(body))})
    assert response is not None and response.status == 200, response and response.content[:300]
    assert response.json()["token"]
