"""Framework-free inference: MONAI bundles -> label maps and lesion candidates."""

from .bundle import Bundle, load_bundle
from .candidates import Candidate, measure_mask
from .engine import InferenceResult, run_inference
from .errors import BundleError, InferenceCancelled, InferenceError, InvalidVolumeError
from .io import read_dicom_dir, read_dicom_series, read_nifti, read_volume, save_label_nifti
from .volume import Volume

__all__ = [
    "Bundle",
    "BundleError",
    "Candidate",
    "InferenceCancelled",
    "InferenceError",
    "InferenceResult",
    "InvalidVolumeError",
    "Volume",
    "load_bundle",
    "measure_mask",
    "read_dicom_dir",
    "read_dicom_series",
    "read_nifti",
    "read_volume",
    "run_inference",
    "save_label_nifti",
]
