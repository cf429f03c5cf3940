"""DICOMweb against a live server with a real client (dicomweb-client): STOW, QIDO, WADO,
metadata, frames, series pixel data, rendered; project roots and the global union."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from rest_framework.authtoken.models import Token

from .conftest import read

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(live_server, user, root: str = "/dicomweb") -> DICOMwebClient:
    token, _ = Token.objects.get_or_create(user=user)
    return DICOMwebClient(url=live_server.url + root, headers={"Authorization": f"Token {token.key}"})


def test_stow_qido_wado_round_trip(live_server, world, phantom_series):
    paths = phantom_series(slices=4, patient_id="RT-1", patient_name="<b>Evil</b>^Name")
    datasets = [read(p) for p in paths]
    project_root = f"/projects/{world['project'].slug}/dicomweb"
    annotator = client_for(live_server, world.users["annotator"], project_root)
    response = annotator.store_instances(datasets)
    assert len(response.ReferencedSOPSequence) == 4
    assert "FailedSOPSequence" not in response
    study_uid, series_uid = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID

    # QIDO: matching, wildcards, ranges, modalities, includefield; the global root unions projects.
    hits = annotator.search_for_studies(search_filters={"PatientID": "RT-*"})
    assert [h["0020000D"]["Value"][0] for h in hits] == [study_uid]
    assert hits[0]["00100010"]["Value"][0]["Alphabetic"] == "<b>Evil</b>^Name"
    assert hits[0]["00201208"]["Value"][0] == 4
    assert annotator.search_for_studies(search_filters={"PatientName": "*evil*"})
    assert annotator.search_for_studies(search_filters={"StudyDate": "20250101-20261231",
                                                        "ModalitiesInStudy": "CT"})
    assert not annotator.search_for_studies(search_filters={"StudyDate": "-19991231"})
    assert not annotator.search_for_studies(search_filters={"ModalitiesInStudy": "MR", "PatientID": "RT-1"})
    with_field = annotator.search_for_studies(search_filters={"StudyInstanceUID": study_uid},
                                              fields=["SliceThickness"])
    assert "00180050" in with_field[0]
    assert len(annotator.search_for_series(study_uid)) == 1
    instances = annotator.search_for_instances(study_uid, series_uid)
    assert len(instances) == 4
    assert len(annotator.search_for_studies(limit=1, offset=0)) == 1
    glob = client_for(live_server, world.users["annotator"])
    assert study_uid in {h["0020000D"]["Value"][0] for h in glob.search_for_studies()}
    outsider = client_for(live_server, world.users["outsider"])
    assert study_uid not in {h["0020000D"]["Value"][0] for h in outsider.search_for_studies()}

    # WADO: default Explicit VR LE; transfer-syntax=* returns the stored bytes unchanged.
    sop = datasets[1].SOPInstanceUID
    ds = annotator.retrieve_instance(study_uid, series_uid, sop)
    assert ds.SOPInstanceUID == sop and np.array_equal(ds.pixel_array, datasets[1].pixel_array)
    token = Token.objects.get(user=world.users["annotator"]).key
    url = f"{live_server.url}{project_root}/studies/{study_uid}/series/{series_uid}/instances/{sop}"
    raw = requests.get(url, headers={"Authorization": f"Token {token}",
                                     "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
                       timeout=30)
    assert raw.status_code == 200 and paths[1].read_bytes() in raw.content
    assert len(annotator.retrieve_series(study_uid, series_uid)) == 4
    assert len(annotator.retrieve_study(study_uid)) == 4

    # Metadata: DICOM JSON with BulkDataURI for pixel data, in slice order.
    meta = annotator.retrieve_series_metadata(study_uid, series_uid)
    assert len(meta) == 4
    # (dicomweb-client sends `Host` without the port, so only the path is checked)
    assert f"{project_root}/studies/{study_uid}/series/{series_uid}/instances/" in meta[0]["7FE00010"]["BulkDataURI"]
    assert [m["00200013"]["Value"][0] for m in meta] == [1, 2, 3, 4]
    assert annotator.retrieve_instance_metadata(study_uid, series_uid, sop)["00080018"]["Value"] == [sop]

    # Frames: uncompressed little endian.
    (frame,) = annotator.retrieve_instance_frames(study_uid, series_uid, sop, frame_numbers=[1])
    assert frame == datasets[1].pixel_array.astype("<i2").tobytes()

    # Series pixel data in one request, one part per frame, slice order (gzip when asked, except
    # for a client on the loopback interface, like this one: test_pixeldata_ranges.py).
    r = requests.get(f"{live_server.url}{project_root}/studies/{study_uid}/series/{series_uid}/pixeldata",
                     headers={"Authorization": f"Token {token}", "Accept-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 200 and "Content-Encoding" not in r.headers
    boundary = r.headers["Content-Type"].split("boundary=")[1].split(";")[0]
    parts = [p for p in r.content.split(b"--" + boundary.encode())[1:-1]]
    assert len(parts) == 4
    assert parts[1].split(b"\r\n\r\n", 1)[1][:-2] == frame
    assert f"instances/{sop}/frames/1".encode() in parts[1]

    # Rendered PNG / JPEG with window/level.
    png = requests.get(url + "/rendered?window=-600,1500", headers={"Authorization": f"Token {token}"}, timeout=30)
    assert png.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (64, 64)
    jpg = requests.get(url + "/rendered", headers={"Authorization": f"Token {token}", "Accept": "image/jpeg"},
                       timeout=30)
    assert jpg.headers["Content-Type"] == "image/jpeg"

    # Metadata honours Accept-Encoding: gzip.
    m = requests.get(f"{live_server.url}{project_root}/studies/{study_uid}/metadata",
                     headers={"Authorization": f"Token {token}", "Accept-Encoding": "gzip"}, timeout=30, stream=True)
    assert m.headers["Content-Encoding"] == "gzip"
    assert len(gzip.decompress(m.raw.read())) > 1000


def test_stow_roles(live_server, world, phantom_series):
    datasets = [read(p) for p in phantom_series(slices=1, patient_id="ROLE-1")]
    project_root = f"/projects/{world['project'].slug}/dicomweb"
    reviewer = client_for(live_server, world.users["reviewer"], project_root)
    with pytest.raises(requests.HTTPError) as err:
        reviewer.store_instances(datasets)
    assert err.value.response.status_code == 403
    annotator_global = client_for(live_server, world.users["annotator"])
    with pytest.raises(requests.HTTPError) as err:
        annotator_global.store_instances(datasets)
    assert err.value.response.status_code == 403

