"""Preprocessing shared by inference and training, so a model sees identical inputs in both.

canonical orientation (views) -> resample to the bundle's target spacing -> intensity scaling
(MONAI ScaleIntensityRanged window for CT, robust percentiles for MR) -> optional MONAI
Gaussian denoising. Tensors are (1, z, y, x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, GaussianSmoothd, ScaleIntensityRanged

from .grid import Reorientation, canonical, resample, target_shape
from .volume import Volume, check_size


@dataclass
class Prepared:
    image: torch.Tensor  # (1, z, y, x) float32, normalised, on the target grid
    label: torch.Tensor | None  # (1, z, y, x) float32 binary foreground, same grid
    canonical: Volume  # the input as canonical views (original resolution)
    reorientation: Reorientation
    spacing: tuple[float, float, float]  # actual (z, y, x) spacing of the target grid


def _percentile_scale(t: torch.Tensor, cfg: dict[str, Any]) -> torch.Tensor:
    # Percentiles on a strided sample: torch.quantile refuses >16M elements and is slow.
    sample = t.numpy()[..., ::2, ::2, ::2]
    lo, hi = np.percentile(sample, [float(cfg.get("lower", 0.5)), float(cfg.get("upper", 99.5))])
    t = (t - float(lo)) / max(float(hi - lo), 1e-6)
    if cfg.get("clip", False):
        t.clamp_(0.0, 1.0)
    return t


def intensity_steps(params: dict[str, Any]) -> Compose:
    cfg = params["intensity"]
    steps: list[Any] = []
    if cfg.get("mode", "window") == "window":
        steps.append(ScaleIntensityRanged(keys="image", a_min=float(cfg["a_min"]),
                                          a_max=float(cfg["a_max"]), b_min=0.0, b_max=1.0,
                                          clip=True))
    if float(params.get("denoise_sigma", 0.0)) > 0:
        steps.append(GaussianSmoothd(keys="image", sigma=float(params["denoise_sigma"])))
    return Compose(steps)


def prepare(volume: Volume, params: dict[str, Any], label: np.ndarray | None = None, *,
            max_voxels: int | None = None) -> Prepared:
    canon, ro = canonical(volume)
    target = tuple(float(v) for v in params["target_spacing"])
    shape = target_shape(canon.shape, canon.spacing, target)
    if max_voxels is not None:
        check_size(shape, max_voxels)
    image = resample(canon.array, shape)
    if params["intensity"].get("mode") == "percentile":
        image = _percentile_scale(image, params["intensity"])
    data = intensity_steps(params)({"image": image[None]})
    img = torch.as_tensor(data["image"]).float()
    lab = None
    if label is not None:
        # Linear resample of the binary mask then 0.5: matches how inference thresholds.
        fg = resample(ro.apply(np.asarray(label) > 0).astype(np.float32), shape)
        lab = (fg >= 0.5).float()[None]
    spacing = tuple(n * s / m for n, s, m in zip(canon.shape, canon.spacing, shape, strict=True))
    return Prepared(img, lab, canon, ro, (spacing[0], spacing[1], spacing[2]))
