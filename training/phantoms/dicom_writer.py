"""Write a phantom as a real DICOM series (CT / MR Image Storage, Explicit VR Little Endian)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from .types import Phantom

CT_RESCALE_INTERCEPT = -1024.0
_WINDOWS = {"CT": (-600.0, 1500.0), "MR": (600.0, 1200.0)}


def _uid(*parts: object) -> UID:
    """Deterministic UID: the same phantom written twice gives the same UIDs."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _ds(value: float) -> str:
    """Decimal String within DICOM's 16-character limit."""
    text = f"{value:.6g}"
    return text if len(text) <= 16 else f"{value:.8e}"[:16]


def write_dicom_series(
    ph: Phantom,
    out_dir: Path,
    *,
    patient_id: str,
    patient_name: str,
    study_uid: str | None = None,
    series_uid: str | None = None,
    accession: str = "",
    study_date: str = "20260101",
    series_description: str = "",
) -> list[Path]:
    """One file per slice, named `IM00001.dcm`...; returns the paths in slice order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    is_ct = ph.modality == "CT"
    sop_class = CTImageStorage if is_ct else MRImageStorage
    study_uid = study_uid or _uid("study", patient_id, ph.modality, ph.seed)
    series_uid = series_uid or _uid("series", study_uid, ph.modality, ph.seed)
    frame_uid = _uid("frame", series_uid)
    dz, dy, dx = ph.spacing
    ox, oy, oz = ph.origin
    stored = ph.image
    if is_ct:
        # Stored values are HU - intercept; clip to the 12-bit range scanners use.
        stored = np.clip(ph.image.astype(np.int32) - int(CT_RESCALE_INTERCEPT), 0, 4095).astype(
            np.int16)
    wc, ww = _WINDOWS.get(ph.modality, (0.0, 1000.0))

    base = Dataset()
    base.SOPClassUID = sop_class
    base.Modality = ph.modality
    base.PatientID = patient_id
    base.PatientName = patient_name
    base.PatientBirthDate = ""
    base.PatientSex = ""
    base.StudyInstanceUID = study_uid
    base.SeriesInstanceUID = series_uid
    base.FrameOfReferenceUID = frame_uid
    base.StudyDate = study_date
    base.SeriesDate = study_date
    base.ContentDate = study_date
    base.StudyTime = "120000"
    base.SeriesTime = "120000"
    base.AccessionNumber = accession
    base.ReferringPhysicianName = ""
    base.StudyID = "1"
    base.SeriesNumber = 1 if is_ct else 2
    base.StudyDescription = "Synthetic phantom"
    base.SeriesDescription = series_description or f"Phantom {ph.modality} seed {ph.seed}"
    base.Manufacturer = "Nodus phantom"
    base.BodyPartExamined = "CHEST" if is_ct else "BRAIN"
    base.PositionReferenceIndicator = ""
    base.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    base.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    base.PixelSpacing = [_ds(dy), _ds(dx)]
    base.SliceThickness = _ds(dz)
    base.SpacingBetweenSlices = _ds(dz)
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows, base.Columns = int(stored.shape[1]), int(stored.shape[2])
    base.BitsAllocated = 16
    base.BitsStored = 16
    base.HighBit = 15
    base.PixelRepresentation = 1
    base.WindowCenter = _ds(wc)
    base.WindowWidth = _ds(ww)
    if is_ct:
        base.RescaleIntercept = _ds(CT_RESCALE_INTERCEPT)
        base.RescaleSlope = "1"
        base.RescaleType = "HU"
        base.KVP = "120"
    else:
        base.MRAcquisitionType = "2D"
        base.ScanningSequence = "IR"
        base.SequenceVariant = "SK"
        base.ScanOptions = ""
        base.EchoTime = "120"
        base.RepetitionTime = "9000"
        base.MagneticFieldStrength = "3"

    paths = []
    for k in range(stored.shape[0]):
        ds = Dataset()
        ds.update(base)
        sop_uid = _uid("sop", series_uid, k)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        z = oz + k * dz
        ds.ImagePositionPatient = [_ds(ox), _ds(oy), _ds(z)]
        ds.SliceLocation = _ds(z)
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = out_dir / f"IM{k + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
