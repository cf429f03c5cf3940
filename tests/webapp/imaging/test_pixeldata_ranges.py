"""Series pixeldata `?frames=a-b`: a bad range is a 400 with a JSON reason; who may read a range is
exactly who may read the whole series (same status for every role, project root and union root);
the stream is gzip-encoded for a remote client and plain for one on the loopback interface."""

from __future__ import annotations

import gzip
from typing import Any

import pydicom
import pytest
from django.test import Client

from tests.conftest import ROLES
from webapp.imaging.services import IncomingFile, ingest_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def series(world: Any, phantom_series: Any) -> dict[str, Any]:
    paths = phantom_series(slices=5, patient_id="RANGES-1")
    ingest_files(project=world["project"], files=[IncomingFile(p.name, p.read_bytes()) for p in paths],
                 actor=None, source="test")
    ds = pydicom.dcmread(paths[0])
    tail = f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/pixeldata"
    return {"tail": tail, "frames": [pydicom.dcmread(p).pixel_array.astype("<i2").tobytes() for p in paths],
            "sops": [str(pydicom.dcmread(p).SOPInstanceUID) for p in paths]}  # both in slice order


def client_for(world: Any, role: str, **defaults: Any) -> Client:
    client = Client(**defaults)
    if world.users[role] is not None:
        client.force_login(world.users[role])
    return client


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_frame_ranges_split_the_series_in_slice_order(world: Any, series: dict[str, Any]) -> None:
    client = client_for(world, "annotator")
    url = f"/projects/{world['project'].slug}/dicomweb{series['tail']}"
    frames, sops = series["frames"], series["sops"]

    def get(**query: str) -> bytes:
        response = client.get(url, query)
        assert response.status_code == 200, (query, response.status_code)
        return body_of(response)

    def located(body: bytes) -> list[str]:
        return [sop for sop in sops if f"instances/{sop}/frames/1".encode() in body]

    assert all(f in get() for f in frames)
    body = get(frames="2-4")
    assert body.count(b"application/octet-stream") == 3, body[:300]
    assert located(body) == sops[1:4]
    assert all(f in body for f in frames[1:4]) and frames[0] not in body and frames[4] not in body
    body = get(frames="5")
    assert located(body) == sops[4:] and frames[4] in body
    assert located(get(frames="1-5")) == sops


@pytest.mark.parametrize("bad", ["0-2", "3-2", "1-6", "6", "a-b", "1-2-3", "-1", "", "1,2", "2-", " ", "1-9999999999"])
def test_a_bad_range_is_a_400_with_a_json_reason(world: Any, series: dict[str, Any], bad: str) -> None:
    client = client_for(world, "annotator")
    for root in (f"/projects/{world['project'].slug}/dicomweb", "/dicomweb"):
        response = client.get(f"{root}{series['tail']}", {"frames": bad})
        assert response.status_code == 400, (root, bad, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        reason = response.json()
        assert "frames" in str(reason), reason


@pytest.mark.parametrize("role", ROLES)
def test_a_range_is_readable_by_exactly_who_reads_the_whole_series(world: Any, series: dict[str, Any],
                                                                   role: str) -> None:
    client = client_for(world, role)
    for root in (f"/projects/{world['project'].slug}/dicomweb", f"/projects/{world['other_project'].slug}/dicomweb",
                 "/dicomweb"):
        whole = client.get(f"{root}{series['tail']}")
        part = client.get(f"{root}{series['tail']}", {"frames": "2-3"})
        bad = client.get(f"{root}{series['tail']}", {"frames": "0-1"})
        assert part.status_code == whole.status_code, (role, root, whole.status_code, part.status_code)
        if whole.status_code == 200:
            assert bad.status_code == 400
            body = body_of(part)
            assert series["frames"][1] in body and series["frames"][2] in body
            assert series["frames"][0] not in body and series["frames"][3] not in body
        else:
            # no range check (and no 400) before the permission check: a bad range tells nothing
            assert bad.status_code == whole.status_code, (role, root, bad.status_code)
            bodies = body_of(whole) + body_of(part)
            assert all(f not in bodies for f in series["frames"])
    if role in ("anonymous", "outsider"):
        assert whole.status_code in (401, 403, 404)


def test_gzip_for_a_remote_client_plain_on_loopback(world: Any, series: dict[str, Any]) -> None:
    url = f"/projects/{world['project'].slug}/dicomweb{series['tail']}"
    remote = client_for(world, "annotator", REMOTE_ADDR="192.0.2.10")
    r = remote.get(url, {"frames": "1-5"}, HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert r.status_code == 200 and r["Content-Encoding"] == "gzip"
    body = gzip.decompress(body_of(r))
    assert all(f in body for f in series["frames"])
    for addr in ("127.0.0.1", "::1"):
        local = client_for(world, "annotator", REMOTE_ADDR=addr)
        r = local.get(url, {"frames": "1-5"}, HTTP_ACCEPT_ENCODING="gzip, deflate")
        assert r.status_code == 200 and "Content-Encoding" not in r, addr
        body = body_of(r)
        assert all(f in body for f in series["frames"])
    # loopback through a proxy on this machine: the client is elsewhere, gzip stays on
    local = client_for(world, "annotator", REMOTE_ADDR="127.0.0.1")
    r = local.get(url, HTTP_ACCEPT_ENCODING="gzip", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert r.status_code == 200 and r["Content-Encoding"] == "gzip"
    # no Accept-Encoding: never gzip
    r = remote.get(url)
    assert r.status_code == 200 and "Content-Encoding" not in r

