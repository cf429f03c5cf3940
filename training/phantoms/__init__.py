"""Deterministic synthetic studies with ground truth: chest CT with nodules, brain MR lesions."""

from .brain import brain_mr
from .chest import chest_ct
from .dicom_writer import write_dicom_series
from .truth import save_nifti, write_truth
from .types import Lesion, Phantom

__all__ = [
    "Lesion",
    "Phantom",
    "brain_mr",
    "chest_ct",
    "save_nifti",
    "write_dicom_series",
    "write_truth",
]
