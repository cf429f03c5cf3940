"""De-identification at ingest: DICOM PS3.15 Annex E Basic Application Confidentiality Profile.

Identifying attributes are removed (X), emptied (Z) or replaced by a stable pseudonym (D, U).
Pseudonyms are derived with an HMAC keyed by SECRET_KEY and the project, so the same patient or UID
always maps to the same value in a project; the patient/study/series map is kept in `Pseudonym`
rows that only project admins can read.
"""

from __future__ import annotations

import hashlib
import hmac
import io

import pydicom
from django.conf import settings
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from webapp.labeling.models import Project

from .dicom import Parsed, parse
from .models import Pseudonym

METHOD = "PS3.15 E.1.1 Basic Application Confidentiality Profile (Nodus)"
# Attributes the Basic Profile removes (X) — the ones with person or institution information.
REMOVE = {
    "PatientAge", "PatientSize", "PatientWeight", "PatientAddress", "PatientTelephoneNumbers",
    "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "PatientBirthName",
    "PatientMotherBirthName", "MilitaryRank", "BranchOfService", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "MedicalRecordLocator", "PatientBirthTime",
    "PatientInsurancePlanCodeSequence", "CountryOfResidence", "RegionOfResidence", "ResponsiblePerson",
    "ResponsibleOrganization", "PatientReligiousPreference", "MedicalAlerts", "Allergies",
    "PregnancyStatus", "SmokingStatus", "LastMenstrualDate", "PatientState",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "StationName", "DeviceSerialNumber", "PerformingPhysicianName", "OperatorsName",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "RequestingPhysician",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "StudyDescription",
    "SeriesDescription", "ImageComments", "RequestAttributesSequence", "RequestedProcedureID",
    "RequestedProcedureDescription", "PerformedProcedureStepID", "PerformedProcedureStepDescription",
    "ScheduledProcedureStepID", "AdmissionID", "IssuerOfPatientID", "PerformedStationName",
    "PerformedLocation", "ProtocolName", "DerivationDescription", "AcquisitionComments",
    "ContentCreatorName", "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    "InterpretationAuthor", "TextComments", "AdmittingDiagnosesDescription", "Manufacturer",
    "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime",
    "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime", "OverlayDate", "OverlayTime",
    "CurveDate", "CurveTime",
}
# Attributes the Basic Profile keeps present but empty (Z).
EMPTY = {"PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID", "StudyDate", "StudyTime",
         "ReferringPhysicianName"}
DICOM_ROOT = "1.2.840.10008."


def _digest(project: Project, kind: str, value: str) -> str:
    key = f"{settings.SECRET_KEY}:{project.slug}".encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def pseudo_uid(project: Project, uid: str) -> str:
    return "2.25." + str(int(_digest(project, "uid", uid)[:32], 16))


def pseudo_patient_id(project: Project, patient_id: str) -> str:
    return "ANON-" + _digest(project, "patient", patient_id)[:12].upper()


def _replace_uids(ds: Dataset, project: Project) -> None:
    for elem in ds.iterall():
        if elem.VR == "UI" and elem.value and not (elem.keyword.endswith("ClassUID") or
                                                    elem.keyword == "TransferSyntaxUID"):
            values = elem.value if isinstance(elem.value, (list, tuple)) or elem.VM > 1 else [elem.value]
            new = [v if str(v).startswith(DICOM_ROOT) else pseudo_uid(project, str(v)) for v in values]
            elem.value = new if elem.VM > 1 else new[0]


def _scrub(ds: Dataset) -> None:
    for elem in list(ds):
        if elem.tag.is_private or (elem.tag.group & 0xFF00) in (0x5000, 0x6000):
            del ds[elem.tag]  # private tags, curves and overlays
            continue
        if elem.keyword in REMOVE:
            del ds[elem.tag]
        elif elem.keyword in EMPTY or elem.VR in ("PN", "DA", "DT", "TM") and elem.keyword != "PatientName":
            elem.value = ""
        elif elem.VR == "SQ" and isinstance(elem.value, Sequence):
            for item in elem.value:
                _scrub(item)


def apply(*, project: Project, parsed: Parsed, max_bytes: int, max_decoded_bytes: int) -> Parsed:
    """Return the file re-encoded without identifying headers (pixels untouched)."""
    ds = parsed.ds
    originals = {
        "patient_id": str(ds.get("PatientID", "") or ""),
        "patient_name": str(ds.get("PatientName", "") or ""),
        "study_uid": parsed.study_instance_uid,
        "series_uid": parsed.series_instance_uid,
        "accession": str(ds.get("AccessionNumber", "") or ""),
    }
    ds = pydicom.dcmread(io.BytesIO(parsed.data))  # the whole file: parse() kept the header only
    patient = pseudo_patient_id(project, originals["patient_id"])
    _scrub(ds)
    _replace_uids(ds, project)
    ds.PatientID = patient
    ds.PatientName = patient
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "Basic Application " \
        "Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    _remember(project=project, originals=originals, patient=patient)
    return parse(buf.getvalue(), max_bytes=max_bytes, max_decoded_bytes=max_decoded_bytes)


def _remember(*, project: Project, originals: dict[str, str], patient: str) -> None:
    pairs: list[tuple[str, str, str]] = [
        ("patient_id", originals["patient_id"], patient),
        ("patient_name", originals["patient_name"], patient),
        ("study_uid", originals["study_uid"], pseudo_uid(project, originals["study_uid"])),
        ("series_uid", originals["series_uid"], pseudo_uid(project, originals["series_uid"])),
    ]
    if originals["accession"]:
        pairs.append(("accession", originals["accession"], ""))
    for kind, original, pseudonym in pairs:
        Pseudonym.objects.get_or_create(project=project, kind=kind, original=original[:400],
                                        defaults={"pseudonym": pseudonym})

