"""Measurements of lesion masks for the web side: AI and human findings are measured the same
way, by `inference.measure_mask` (webapp.ml is the only web module that imports inference/)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskMeasurement:
    diameter_mm: float
    volume_mm3: float
    centroid_voxel: tuple[float, float, float]  # (z, y, x)


def measure_segment(mask: np.ndarray, spacing: tuple[float, float, float]) -> MaskMeasurement:
    """`mask` is a boolean (z, y, x) array, `spacing` (z, y, x) mm; raises ValueError if empty."""
    from inference.candidates import measure_mask  # lazy: `inference` pulls in torch/MONAI (web startup)

    diameter, volume, centroid = measure_mask(mask, spacing)
    return MaskMeasurement(round(diameter, 2), round(volume, 2), centroid)
