"""Ground truth next to a phantom: `label.nii.gz` (instance labels) and `lesions.json`."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from .types import Phantom


def nifti_affine(spacing: tuple[float, ...], origin: tuple[float, ...]) -> np.ndarray:
    """RAS affine for an array stored (x, y, z) from LPS origin and (z, y, x) spacing."""
    dz, dy, dx = spacing
    ox, oy, oz = origin
    return np.array([
        [-dx, 0.0, 0.0, -ox],
        [0.0, -dy, 0.0, -oy],
        [0.0, 0.0, dz, oz],
        [0.0, 0.0, 0.0, 1.0],
    ])


def save_nifti(array: np.ndarray, spacing: tuple[float, ...], origin: tuple[float, ...],
               path: Path) -> None:
    """Save a (z, y, x) array on an axial LPS grid as NIfTI (stored x, y, z; RAS affine)."""
    img = nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)),
                          nifti_affine(spacing, origin))
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))


def write_truth(ph: Phantom, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_nifti(ph.label, ph.spacing, ph.origin, out_dir / "label.nii.gz")
    doc = {
        "seed": ph.seed,
        "modality": ph.modality,
        "spacing_zyx_mm": list(ph.spacing),
        "origin_xyz_mm": list(ph.origin),
        "shape_zyx": list(ph.image.shape),
        "lesions": [lesion.to_dict() for lesion in ph.lesions],
    }
    (out_dir / "lesions.json").write_text(json.dumps(doc, indent=2))
