"""Bad input: each is refused with a 4xx JSON naming the file and the rule, quarantined for admins,
never a 500, a hang or a partial row."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset

from tests.conftest import client_as
from webapp.imaging.models import Instance, QuarantinedFile

from .conftest import read, to_bytes

pytestmark = pytest.mark.django_db


def upload(world, name: str, data: bytes, role: str = "annotator"):
    f = io.BytesIO(data)
    f.name = name
    return client_as(world.users[role]).post("/api/v1/uploads/", {"project": world["project"].slug, "file": f},
                                              format="multipart")


def mutate(fn: Callable[[Dataset], None]) -> Callable[[bytes], bytes]:
    def apply(good: bytes) -> bytes:
        ds = read(good)
        fn(ds)
        return to_bytes(ds)

    return apply


def _set(**values):
    def fn(ds: Dataset) -> None:
        for k, v in values.items():
            if v is None:
                delattr(ds, k)
            else:
                setattr(ds, k, v)
    return fn


def _huge(ds: Dataset) -> None:
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 5000


def _short_pixels(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData[:1000]


def _zip(entries: list[tuple[str, bytes]], *, symlink: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            if symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


CASES = {
    "not_dicom": ("notes.txt", lambda good: b"hello, not a DICOM file" * 10, "not_dicom"),
    # Cut inside the header: the UIDs after the cut are what is reported missing.
    "truncated_header": ("a.dcm", lambda good: good[:300], "missing_uid"),
    "truncated_pixels": ("b.dcm", lambda good: good[:-500], "truncated"),
    "missing_study_uid": ("c.dcm", mutate(_set(StudyInstanceUID=None)), "missing_uid"),
    "missing_sop_uid": ("d.dcm", mutate(_set(SOPInstanceUID=None)), "missing_uid"),
    "invalid_uid": ("e.dcm", mutate(_set(SeriesInstanceUID="1.2.abc.04")), "invalid_uid"),
    "not_storage_class": ("f.dcm", mutate(_set(SOPClassUID="1.2.840.10008.1.1")), "sop_class"),
    "pixel_data_short": ("g.dcm", mutate(_short_pixels), "pixel_data_short"),
    "huge_dimensions": ("h.dcm", mutate(_huge), "dimensions"),
    "nan_position": ("i.dcm", mutate(_set(ImagePositionPatient=["nan", "0", "0"])), "geometry"),
    "infinite_position": ("j.dcm", mutate(_set(ImagePositionPatient=["inf", "0", "0"])), "geometry"),
    "zero_spacing": ("k.dcm", mutate(_set(PixelSpacing=["0", "0.7"])), "geometry"),
    "non_orthogonal": ("l.dcm", mutate(_set(ImageOrientationPatient=[1, 0, 0, 0.7071, 0.7071, 0])), "geometry"),
    "zip_parent_path": ("x.zip", lambda good: _zip([("ok.dcm", good), ("../evil.dcm", good)]), "zip_unsafe_path"),
    "zip_absolute_path": ("y.zip", lambda good: _zip([("/etc/evil.dcm", good)]), "zip_unsafe_path"),
    "zip_symlink": ("z.zip", lambda good: _zip([("link.dcm", b"/etc/passwd")], symlink=True), "zip_symlink"),
    "zip_bomb": ("bomb.zip", lambda good: _zip([("bomb.dcm", b"\0" * (64 * 1024**2))]), "zip_bomb"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_refused_named_and_quarantined(world, phantom_series, case, tmp_path):
    name, make, rule = CASES[case]
    good = phantom_series(slices=1)[0].read_bytes()
    before = Instance.objects.count()
    response = upload(world, name, make(good))
    assert 400 <= response.status_code < 500, response.content
    body = response.json()
    assert body["error"] == "refused"
    (refused,) = [f for f in body["files"] if f["status"] == "refused"]
    assert refused["rule"] == rule, refused
    assert name in refused["file"] and refused["reason"]
    assert Instance.objects.count() == before  # nothing partial, not even the good zip entry
    q = QuarantinedFile.objects.get(pk=refused["quarantine_id"])
    assert q.rule == rule and q.uploaded_by == world.users["annotator"] and q.source == "upload"
    # An admin can inspect and delete it; an annotator cannot see it.
    assert client_as(world.users["annotator"]).get(f"/api/v1/quarantine/{q.pk}/").status_code == 404
    admin = client_as(world.users["project_admin"])
    assert admin.get(f"/api/v1/quarantine/{q.pk}/").json()["rule"] == rule
    assert admin.delete(f"/api/v1/quarantine/{q.pk}/").status_code == 204
    assert not QuarantinedFile.objects.filter(pk=q.pk).exists()
    assert not list(tmp_path.parent.glob("**/evil.dcm"))


def test_interrupted_stow_indexes_nothing_partial(world, phantom_series):
    paths = phantom_series(slices=2, patient_id="INT-1")
    boundary = "XyZ"
    first, second = (p.read_bytes() for p in paths)
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + first +
            f"\r\n--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + second[: len(second) // 2])
    response = client_as(world.users["annotator"]).generic(
        "POST", f"/projects/{world['project'].slug}/dicomweb/studies", body,
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}')
    assert response.status_code == 202
    failed = response.json()["00081198"]["Value"]
    assert "interrupted" in failed[0]["00000902"]["Value"][0]
    assert Instance.objects.filter(sop_instance_uid=read(first).SOPInstanceUID).exists()
    assert not Instance.objects.filter(sop_instance_uid=read(paths[1]).SOPInstanceUID).exists()
    assert QuarantinedFile.objects.filter(rule="interrupted").exists()


def test_stow_of_garbage_is_a_4xx_with_failed_sop_sequence(world):
    boundary = "b0"
    body = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\nnot dicom\r\n--{boundary}--\r\n".encode()
    response = client_as(world.users["annotator"]).generic(
        "POST", f"/projects/{world['project'].slug}/dicomweb/studies", body,
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}')
    assert response.status_code == 400
    assert "not_dicom" in response.json()["00081198"]["Value"][0]["00000902"]["Value"][0]


def test_html_patient_name_is_escaped_on_pages(world, phantom_series):
    path = phantom_series(slices=1, patient_id="XSS-1", patient_name="<script>alert(1)</script>")[0]
    assert upload(world, "xss.dcm", path.read_bytes()).status_code == 201
    page = client_as(world.users["annotator"]).get("/studies/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_upload_zip_of_good_files_and_summary(world, phantom_series):
    paths = phantom_series(slices=3, patient_id="ZIP-1")
    data = _zip([(f"folder/{p.name}", p.read_bytes()) for p in paths] + [("DICOMDIR", b"x"), (".DS_Store", b"x")])
    response = upload(world, "study.zip", data)
    assert response.status_code == 201, response.content
    assert response.json()["summary"] == {"stored": 3, "present": 0, "refused": 0}
    assert upload(world, "study.zip", data).json()["summary"]["present"] == 3
    assert upload(world, "study.zip", data, role="reviewer").status_code == 403


def test_upload_page_renders_for_members(world):
    assert client_as(world.users["annotator"]).get("/upload/").status_code == 200
    assert client_as(None).get("/upload/").status_code == 302
