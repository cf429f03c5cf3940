"""Cases (image + truth), loading them, and the patient-level train/validation split."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from inference.errors import InvalidVolumeError
from inference.io import read_volume
from inference.volume import Volume


@dataclass
class Case:
    case_id: str
    patient_id: str
    volume: Volume | None = None
    label: np.ndarray | None = None  # (z, y, x) instance or binary labels on the volume grid
    image_path: Path | None = None  # DICOM directory or NIfTI
    label_path: Path | None = None  # NIfTI on the same grid as the image
    # Truth lesion id -> its stated diameter in mm (a phantom's generator records it). A mask's
    # long axis overstates small lesions (a voxel of extent, lobulation, thick slices: a 3.5 mm
    # disc on two 2.5 mm slices measures 6.3 mm), so evaluation uses the stated size if any.
    lesion_diameters: dict[int, float] | None = None


def load_case(case: Case) -> tuple[Volume, np.ndarray]:
    """The case's volume and label as arrays, reading from disk if needed."""
    volume = case.volume
    if volume is None:
        if case.image_path is None:
            raise InvalidVolumeError(f"case {case.case_id}: no volume and no image_path")
        volume = read_volume(case.image_path)
    label = case.label
    if label is None:
        if case.label_path is None:
            raise InvalidVolumeError(f"case {case.case_id}: no label and no label_path")
        img: Any = nib.load(str(case.label_path))
        label = np.asarray(img.dataobj).transpose(2, 1, 0)
    if label.shape != volume.array.shape:
        raise InvalidVolumeError(
            f"case {case.case_id}: label {label.shape} does not match image {volume.array.shape}")
    return volume, np.asarray(label)


def cases_from_dir(root: Path | str) -> list[Case]:
    """Phantom-style layout: one folder per case with `dicom/` or `image.nii.gz` + `label.nii.gz`."""
    out = []
    for d in sorted(Path(root).iterdir()):
        if not d.is_dir() or not (d / "label.nii.gz").exists():
            continue
        image = d / "dicom" if (d / "dicom").is_dir() else d / "image.nii.gz"
        patient, diameters = d.name, None
        meta = d / "lesions.json"
        if meta.exists():
            info = json.loads(meta.read_text())
            patient = f"seed-{info.get('seed', d.name)}"
            diameters = stated_diameters(info.get("lesions"))
        out.append(Case(case_id=d.name, patient_id=patient, image_path=image,
                        label_path=d / "label.nii.gz", lesion_diameters=diameters))
    return out


def stated_diameters(lesions: Any) -> dict[int, float] | None:
    """{id: diameter_mm} from a lesions.json list; None unless every entry states both."""
    if not isinstance(lesions, list):
        return None
    out = {}
    for item in lesions:
        try:
            lesion_id, diameter = int(item["id"]), float(item["diameter_mm"])
        except (TypeError, KeyError, ValueError):
            return None
        if not math.isfinite(diameter) or diameter <= 0:
            return None
        out[lesion_id] = diameter
    return out


def split_by_patient(cases: list[Case], val_fraction: float, seed: int
                     ) -> tuple[list[Case], list[Case]]:
    """All cases of a patient land on the same side; at least one training patient."""
    patients = sorted({c.patient_id for c in cases})
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    n_val = int(round(len(patients) * val_fraction))
    n_val = min(n_val, len(patients) - 1) if len(patients) > 1 else 0
    val_ids = set(patients[:n_val])
    return ([c for c in cases if c.patient_id not in val_ids],
            [c for c in cases if c.patient_id in val_ids])
