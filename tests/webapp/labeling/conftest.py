from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from webapp.labeling.codec import ENCODING, encode

GRID = (4, 16, 16)


@pytest.fixture
def grid_task(world: Any) -> Any:
    """The world's task on a series with a real 4×16×16 grid (0.7 × 0.7 × 2.5 mm)."""
    from tests.factories import InstanceFactory

    series = world["series"]
    series.rows, series.columns = GRID[1], GRID[2]
    series.spacing = [0.7, 0.7, 2.5]
    series.orientation = [1, 0, 0, 0, 1, 0]
    series.num_instances = GRID[0]
    series.save()
    for z in range(GRID[0]):
        InstanceFactory(series=series, slice_position=2.5 * z, image_position=[-10.0, -10.0, 2.5 * z])
    return world["task"]


def nodule(value: int = 1, grid: tuple[int, int, int] = GRID) -> np.ndarray:
    vol = np.zeros(grid, dtype=np.uint8)
    vol[1:3, 5:9, 6:10] = value
    return vol


def body(task: Any, volume: np.ndarray, findings: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "series_instance_uid": task.series.series_instance_uid,
        "encoding": ENCODING,
        "dtype": "uint8",
        "shape": list(volume.shape),
        "data": base64.b64encode(encode(volume)).decode(),
        "findings": findings if findings is not None else [
            {"segment": 1, "label_class": "nodule", "attributes": {"malignancy": 3}}
        ],
    }
    out.update(over)
    return out


def save(client: Any, task: Any, payload: dict[str, Any], parent: int | None | str = None) -> Any:
    tag = parent if isinstance(parent, str) else f'"{parent if parent is not None else "none"}"'
    return client.post(f"/api/v1/tasks/{task.pk}/labels/", payload, format="json", HTTP_IF_MATCH=tag)
