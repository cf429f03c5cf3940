"""The fast paths behind the ingest/WADO benchmarks behave like the slow ones they replaced:
DICOM JSON from raw elements equals pydicom's, ASGI responses stream the same bytes, request
bodies are coalesced without changing them, and no web entry point imports torch."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.test import AsyncClient
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from rest_framework.authtoken.models import Token

from webapp.imaging.dicom import INSTANCE_URL, header_json
from webapp.imaging.dicomweb.asgi import CoalesceRequestBody
from webapp.imaging.services import IncomingFile, ingest_files

ROOT = Path(__file__).resolve().parents[3]
PYDICOM_FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
                 "MR_small_bigendian.dcm", "image_dfl.dcm", "priv_SQ.dcm", "examples_ybr_color.dcm", "test-SR.dcm"]


def pydicom_json(ds: Dataset) -> dict:
    header = Dataset()
    for elem in ds:
        if elem.tag < 0x7FE00000:
            header.add(elem)
    return header.to_json_dict(bulk_data_threshold=4096, bulk_data_element_handler=lambda _e: INSTANCE_URL)


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_header_json_equals_pydicom_to_json(name):
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} not available")
    fast = header_json(pydicom.dcmread(path, stop_before_pixels=True))
    slow = pydicom_json(pydicom.dcmread(path, stop_before_pixels=True))
    assert json.loads(json.dumps(fast)) == json.loads(json.dumps(slow))


def test_header_json_of_a_phantom_slice_equals_pydicom(phantom_series):
    path = phantom_series(slices=1)[0]
    assert header_json(pydicom.dcmread(path, stop_before_pixels=True)) == pydicom_json(
        pydicom.dcmread(path, stop_before_pixels=True))


def _run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_request_body_is_coalesced_without_changing_it():
    pieces = [os.urandom(8192) for _ in range(300)]
    queue = [{"type": "http.request", "body": p, "more_body": True} for p in pieces]
    queue[-1]["more_body"] = False
    seen: list[dict] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message)
            if not message.get("more_body"):
                return

    async def receive():
        return queue.pop(0)

    _run(CoalesceRequestBody(app, block=1 << 20)({"type": "http"}, receive, None))
    assert b"".join(m["body"] for m in seen) == b"".join(pieces)
    assert len(seen) == 3 and seen[-1]["more_body"] is False and all(m["more_body"] for m in seen[:-1])


def test_a_disconnect_in_the_middle_of_a_body_is_still_delivered():
    queue = [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}]
    seen: list[dict] = []

    async def app(scope, receive, send):
        seen.append(await receive())
        seen.append(await receive())

    async def receive():
        return queue.pop(0)

    _run(CoalesceRequestBody(app)({"type": "http"}, receive, None))
    assert seen == [{"type": "http.request", "body": b"a", "more_body": True}, {"type": "http.disconnect"}]


@pytest.mark.django_db(transaction=True)
def test_asgi_wado_streams_the_stored_bytes_and_frames(world, phantom_series):
    paths = phantom_series(slices=3, patient_id="ASGI-1")
    ingest_files(project=world["project"], files=[IncomingFile(p.name, p.read_bytes()) for p in paths],
                 actor=None, source="test")
    ds = pydicom.dcmread(paths[0])
    token = Token.objects.create(user=world.users["annotator"]).key
    client = AsyncClient()
    base = f"/projects/{world['project'].slug}/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"

    async def get(url: str, **headers: str) -> tuple[int, dict, bytes]:
        response = await client.get(url, headers={"authorization": f"Token {token}", **headers})
        if not response.streaming:
            return response.status_code, response.headers, response.content
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response.status_code, response.headers, body

    status, headers, body = _run(get(base, accept='multipart/related; type="application/dicom"; transfer-syntax=*',
                                     **{"accept-encoding": "gzip"}))
    assert status == 200 and "Content-Encoding" not in headers, body[:300]  # instances are never gzipped
    for p in paths:
        assert p.read_bytes() in body
    status, headers, body = _run(get(f"{base}/pixeldata"))
    assert status == 200
    frame = ds.pixel_array.astype("<i2").tobytes()
    assert frame in body and body.count(b"application/octet-stream") == 3
    assert np.frombuffer(frame, "<i2").shape == (64 * 64,)


def test_web_and_import_dicom_start_without_torch():
    code = ("import sys, django; django.setup(); from django.urls import get_resolver; get_resolver().url_patterns;"
            "import webapp.config.asgi, webapp.imaging.management.commands.import_dicom;"
            "bad = sorted(m for m in ('torch', 'monai') if m in sys.modules); print(bad); sys.exit(1 if bad else 0)")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="webapp.config.settings", NODUS_DEMO="1")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_modalities_in_study_matches_whole_values_of_the_denormalised_list(world):
    from webapp.imaging import selectors

    study = world["study"]
    study.modalities = "CT\\SR"
    study.save(update_fields=["modalities"])
    ids = [world["project"].pk]

    def hits(value: str) -> bool:
        return study in selectors.qido_studies(project_ids=ids, match={"ModalitiesInStudy": value})

    assert hits("CT") and hits("SR") and hits("MR,SR") and hits("MR\\CT")
    assert not hits("C") and not hits("T\\S") and not hits("MR") and not hits(".*")


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_file_meta_walk_finds_the_transfer_syntax_like_pydicom(name):
    from webapp.imaging.dicom import _transfer_syntax_from_meta, _transfer_syntax_from_meta_pydicom

    path = get_testdata_file(name)
    data = Path(path).read_bytes()
    assert _transfer_syntax_from_meta(data) == _transfer_syntax_from_meta_pydicom(data)


def test_cut_file_meta_is_refused_as_truncated(phantom_series):
    from webapp.imaging.dicom import Refused, parse

    data = phantom_series(slices=1)[0].read_bytes()
    for cut in (140, 150, 170):
        with pytest.raises(Refused) as err:
            parse(data[:cut], max_bytes=1 << 30, max_decoded_bytes=1 << 30)
        assert err.value.rule in {"truncated", "missing_uid"}

