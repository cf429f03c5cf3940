"""Plain data returned by the phantom generators."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

LESION_KINDS = ("solid", "part-solid", "ground-glass", "mr-lesion")
LESION_LOCATIONS = ("parenchymal", "juxta-pleural", "juxta-vascular")


@dataclass
class Lesion:
    id: int
    center_mm: tuple[float, float, float]  # patient (x, y, z)
    center_voxel: tuple[int, int, int]  # (z, y, x)
    diameter_mm: float
    kind: str
    location: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Phantom:
    """A synthetic study with its truth.

    `image` holds modality units: HU for CT (the DICOM writer stores HU + 1024 with
    RescaleIntercept -1024), arbitrary positive intensities for MR.
    """

    image: np.ndarray  # (z, y, x) int16
    label: np.ndarray  # (z, y, x) uint8 instance labels, k = Lesion.id
    spacing: tuple[float, float, float]  # (z, y, x) mm
    origin: tuple[float, float, float]  # patient (x, y, z) mm of voxel (0, 0, 0)
    modality: str  # "CT" | "MR"
    lesions: list[Lesion] = field(default_factory=list)
    seed: int = 0
