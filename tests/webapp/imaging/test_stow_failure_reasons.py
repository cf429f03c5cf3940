"""STOW-RS response dataset: every refused part is a FailedSOPSequence item with the standard
FailureReason (PS3.18 Table 10.5.3-1), the instance's UIDs when they are known, and the readable
reason (file, rule, sentence) in ErrorComment; stored parts are in ReferencedSOPSequence."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from tests.conftest import client_as
from webapp.imaging.dicom import (
    CANNOT_UNDERSTAND,
    DOES_NOT_MATCH_SOP_CLASS,
    DUPLICATE_SOP_INSTANCE,
    OUT_OF_RESOURCES,
    SOP_CLASS_NOT_SUPPORTED,
    TRANSFER_SYNTAX_NOT_SUPPORTED,
)

from .conftest import read, to_bytes

pytestmark = pytest.mark.django_db

BOUNDARY = "nodus-test-boundary"


def stow(world, parts: list[tuple[str, bytes]], *, study: str | None = None):
    body = b"".join(f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\nContent-Location: part-{n}\r\n\r\n".encode() + data
                    + b"\r\n" for n, (ctype, data) in enumerate(parts, 1)) + f"--{BOUNDARY}--\r\n".encode()
    url = f"/projects/{world['project'].slug}/dicomweb/studies" + (f"/{study}" if study else "")
    return client_as(world.users["annotator"]).generic(
        "POST", url, body, content_type=f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')


def variant(good: bytes, **changes) -> bytes:
    ds = read(good)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    return to_bytes(ds)


def failures(response) -> dict[str, dict]:
    """ErrorComment's file name → the FailedSOPSequence item."""
    items = response.json()["00081198"]["Value"]
    return {item["00000902"]["Value"][0].split(":")[0]: item for item in items}


def test_each_refusal_has_its_standard_failure_reason_and_readable_text(world, phantom_series):
    good, other, third = (p.read_bytes() for p in phantom_series(slices=3, patient_id="FR-1"))
    ds = read(good)
    huge = read(other)
    huge.Rows, huge.Columns, huge.NumberOfFrames = 65535, 65535, 5000
    huge.SOPInstanceUID = generate_uid()
    response = stow(world, [
        ("application/dicom", good),                                                       # part-1 stored
        ("application/dicom", b"plain text, not DICOM" * 20),                              # part-2
        ("application/dicom", variant(other, SOPClassUID="1.2.840.10008.1.1")),            # part-3 Verification
        ("application/dicom", variant(other, SeriesInstanceUID=None)),                     # part-4
        ("application/dicom", variant(good, InstanceNumber=99)),                           # part-5 same UID
        ("application/dicom", to_bytes(huge)),                                             # part-6
        ("application/dicom", third[:-1000]),                                              # part-7
        ("application/dicom", variant(third, PixelSpacing=["0", "0.7"])),                  # part-8
        ("text/plain", b"hello"),                                                          # part-9
    ])
    assert response.status_code == 202  # some stored, some failed
    body = response.json()
    (stored,) = body["00081199"]["Value"]
    assert stored["00081155"]["Value"] == [ds.SOPInstanceUID]
    failed = failures(response)
    expected = {
        "part-2": CANNOT_UNDERSTAND, "part-3": SOP_CLASS_NOT_SUPPORTED, "part-4": DOES_NOT_MATCH_SOP_CLASS,
        "part-5": DUPLICATE_SOP_INSTANCE, "part-6": OUT_OF_RESOURCES, "part-7": CANNOT_UNDERSTAND,
        "part-8": DOES_NOT_MATCH_SOP_CLASS, "part-9": CANNOT_UNDERSTAND,
    }
    assert {name: item["00081197"]["Value"][0] for name, item in failed.items()} == expected
    # Readable: file, rule and sentence.
    assert failed["part-5"]["00000902"]["Value"][0].startswith("part-5: conflict: SOP Instance UID")
    assert "not a storage SOP class" in failed["part-3"]["00000902"]["Value"][0]
    # The instance is named when its UIDs are known and valid, never otherwise.
    assert failed["part-5"]["00081155"]["Value"] == [ds.SOPInstanceUID]
    assert failed["part-3"]["00081150"]["Value"] == ["1.2.840.10008.1.1"]
    assert failed["part-6"]["00081155"]["Value"] == [huge.SOPInstanceUID]
    assert "Value" not in failed["part-2"]["00081155"]


def test_unsupported_transfer_syntax_is_c122(world, phantom_series):
    good = phantom_series(slices=1, patient_id="FR-2")[0].read_bytes()
    # Same length as Explicit VR Little Endian's UID, so the file meta stays well-formed.
    assert good.count(b"1.2.840.10008.1.2.1\x00") == 1
    unknown = good.replace(b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2.8\x00")
    response = stow(world, [("application/dicom", unknown)])
    assert response.status_code == 400
    (item,) = response.json()["00081198"]["Value"]
    assert item["00081197"]["Value"] == [TRANSFER_SYNTAX_NOT_SUPPORTED]
    assert "transfer_syntax" in item["00000902"]["Value"][0]


def test_instance_of_another_study_posted_to_a_study_is_a900(world, phantom_series):
    first = phantom_series(slices=1, patient_id="FR-3")[0].read_bytes()
    second = phantom_series(seed=2, slices=1, patient_id="FR-4")[0].read_bytes()
    response = stow(world, [("application/dicom", first), ("application/dicom", second)],
                    study=read(first).StudyInstanceUID)
    assert response.status_code == 202
    (item,) = response.json()["00081198"]["Value"]
    assert item["00081197"]["Value"] == [DOES_NOT_MATCH_SOP_CLASS]
    assert item["00081155"]["Value"] == [read(second).SOPInstanceUID]
    assert "study_mismatch" in item["00000902"]["Value"][0]


def test_all_failed_is_a_4xx_and_upload_api_reports_the_failure_reason(world):
    response = stow(world, [("application/dicom", b"x" * 200)])
    assert response.status_code == 400
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [CANNOT_UNDERSTAND]
