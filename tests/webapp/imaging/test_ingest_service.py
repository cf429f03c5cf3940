"""The ingest service: indexing, duplicates, conflicts, geometry, audit, de-identification."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from webapp.audit.models import AuditEvent
from webapp.core.storage import get_storage
from webapp.imaging.models import Instance, Patient, Pseudonym, QuarantinedFile, Series, Study
from webapp.imaging.services import IncomingFile, ingest_files

from .conftest import read, to_bytes

pytestmark = pytest.mark.django_db


def files(paths: list[Path]) -> list[IncomingFile]:
    return [IncomingFile(p.name, p.read_bytes()) for p in paths]


def test_series_is_indexed_with_geometry_and_stored_bytes_unchanged(world, phantom_series):
    paths = phantom_series(slices=6)
    report = ingest_files(project=world["project"], files=files(paths), actor=world.users["site_admin"], source="cli")
    assert report.summary() == {"stored": 6, "present": 0, "refused": 0}
    study = Study.objects.get(study_instance_uid=read(paths[0]).StudyInstanceUID)
    assert study.project == world["project"] and study.num_instances == 6 and study.num_series == 1
    assert study.modalities == "CT" and study.patient.name == "Doe^Jane"
    series = Series.objects.get(study=study)
    assert series.geometry_ok, series.geometry_issue
    assert series.num_instances == 6 and series.rows == 64 and series.spacing[2] > 0
    inst = Instance.objects.filter(series=series).order_by("slice_position")
    assert [i.instance_number for i in inst] == [1, 2, 3, 4, 5, 6]
    first = inst[0]
    assert get_storage().read(first.storage_key) == paths[0].read_bytes()
    assert first.pixel_offset and first.pixel_length == 64 * 64 * 2
    assert AuditEvent.objects.filter(action="dicom.ingest", project_id=world["project"].pk).exists()


def test_same_bytes_again_is_already_present(world, phantom_series):
    paths = phantom_series(slices=3)
    ingest_files(project=world["project"], files=files(paths), actor=None, source="cli")
    again = ingest_files(project=world["project"], files=files(paths), actor=None, source="cli")
    assert again.summary() == {"stored": 0, "present": 3, "refused": 0}
    assert Instance.objects.filter(series__study__project=world["project"], series__modality="CT").count() == 3


def test_same_uid_different_bytes_is_refused_409_and_quarantined(world, phantom_series):
    paths = phantom_series(slices=2)
    ingest_files(project=world["project"], files=files(paths), actor=None, source="cli")
    ds = read(paths[0])
    ds.PatientComments = "changed"
    report = ingest_files(project=world["project"], files=[IncomingFile("changed.dcm", to_bytes(ds))],
                          actor=None, source="cli")
    (result,) = report.results
    assert result.status == "refused" and result.rule == "conflict" and result.http_status == 409
    q = QuarantinedFile.objects.get(pk=result.quarantine_id)
    assert q.filename == "changed.dcm" and q.rule == "conflict"
    stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert get_storage().read(stored.storage_key) == paths[0].read_bytes()


def test_study_of_another_project_is_refused(world, phantom_series):
    paths = phantom_series(slices=1)
    ingest_files(project=world["project"], files=files(paths), actor=None, source="cli")
    ds = read(paths[0])
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    report = ingest_files(project=world["other_project"], files=[IncomingFile("x.dcm", to_bytes(ds))],
                          actor=None, source="cli")
    assert report.results[0].rule == "other_project"


@pytest.mark.parametrize("change, issue", [
    ("gap", "gap"),
    ("duplicate", "duplicate slice position"),
    ("orientation", "mixed image orientations"),
    ("size", "mixed image sizes"),
])
def test_inconsistent_series_is_flagged_with_a_reason(world, phantom_series, change, issue):
    paths = phantom_series(slices=6)
    data = [read(p) for p in paths]
    if change == "gap":
        data.pop(3)
    elif change == "duplicate":
        data[4].ImagePositionPatient = data[3].ImagePositionPatient
    elif change == "orientation":
        data[2].ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    elif change == "size":
        data[1].Rows = 32
        data[1].PixelData = data[1].PixelData[: 32 * 64 * 2]
    ingest_files(project=world["project"], files=[IncomingFile(f"{i}", to_bytes(d)) for i, d in enumerate(data)],
                 actor=None, source="cli")
    series = Series.objects.get(series_instance_uid=data[0].SeriesInstanceUID)
    assert not series.geometry_ok
    assert issue in series.geometry_issue


def test_deidentified_project_never_stores_identifying_headers(world, phantom_series):
    project = world["project"]
    project.deidentify = True
    project.save()
    paths = phantom_series(slices=2, patient_id="SECRET-42", patient_name="Smith^John", accession="ACC9")
    src = read(paths[0])
    src.PatientBirthDate = "19600101"
    src.InstitutionName = "St Elsewhere"
    src.ReferringPhysicianName = "Dr^Who"
    src.OtherPatientIDs = "X1"
    src.PatientAddress = "1 Main St"
    src.add_new(0x00091001, "LO", "private secret")
    data = [to_bytes(src), paths[1].read_bytes()]
    report = ingest_files(project=project, files=[IncomingFile(f"{i}", d) for i, d in enumerate(data)],
                          actor=None, source="cli")
    assert report.summary()["stored"] == 2
    inst = Instance.objects.filter(series__study__project=project).exclude(series=world["series"]).first()
    ds = read(get_storage().read(inst.storage_key))
    assert ds.PatientID.startswith("ANON-") and str(ds.PatientName) == ds.PatientID
    assert ds.PatientBirthDate == "" and ds.AccessionNumber == "" and ds.ReferringPhysicianName == ""
    for keyword in ("InstitutionName", "OtherPatientIDs", "PatientAddress", "StudyDescription", "SeriesDate"):
        assert keyword not in ds, keyword
    assert 0x00091001 not in ds
    assert ds.StudyInstanceUID != src.StudyInstanceUID and ds.StudyInstanceUID.startswith("2.25.")
    assert ds.SOPInstanceUID != src.SOPInstanceUID and ds.SOPClassUID == src.SOPClassUID
    assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.pixel_array.tolist() == src.pixel_array.tolist()
    assert "Smith" not in inst.metadata and "SECRET-42" not in inst.metadata
    assert not Patient.objects.filter(patient_id="SECRET-42").exists()
    # Stable: the pseudonym map is kept for admins, same patient → same pseudonym.
    row = Pseudonym.objects.get(project=project, kind="patient_id", original="SECRET-42")
    assert row.pseudonym == ds.PatientID
    assert Pseudonym.objects.get(project=project, kind="study_uid", original=src.StudyInstanceUID).pseudonym \
        == ds.StudyInstanceUID
