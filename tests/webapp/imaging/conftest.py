"""Real DICOM test data (tiny): phantom series from training.phantoms and pydicom-made variants."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset


@pytest.fixture
def phantom_series(tmp_path: Path) -> Callable[..., list[Path]]:
    """`phantom_series(seed=1, slices=6)` → paths of a 64×64 chest CT series in slice order."""
    from training.phantoms import chest_ct, write_dicom_series

    def make(*, seed: int = 1, slices: int = 6, patient_id: str = "PAT1", patient_name: str = "Doe^Jane",
             study_uid: str | None = None, **kwargs: Any) -> list[Path]:
        ph = chest_ct(seed, size=64, slices=slices, n_lesions=1)
        out = tmp_path / f"series-{seed}-{patient_id}-{slices}"
        return write_dicom_series(ph, out, patient_id=patient_id, patient_name=patient_name, study_uid=study_uid,
                                  **kwargs)

    return make


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def read(path: Path | bytes) -> Dataset:
    return dcmread(io.BytesIO(path) if isinstance(path, bytes) else path)
