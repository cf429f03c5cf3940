"""Preprocessing shared by inference and training, so a model sees identical inputs in both.

canonical orientation (views) -> resample to the bundle's target spacing (its `grid`: MONAI
Resized's extent-preserving one or Spacingd's) -> intensity scaling
(a CT window with ScaleIntensityRange's arithmetic, robust percentiles for MR, or a MONAI zoo
bundle's z-score / min-max) -> optional MONAI GaussianSmoothd denoising. Tensors are
(1, z, y, x) in canonical order; the engine turns them to a zoo model's axes (`model_axcodes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, GaussianSmoothd

from .grid import (
    GridMap,
    Reorientation,
    canonical,
    extent_grid,
    model_axes,
    resample_to_model,
    spacing_grid,
)
from .volume import Volume, check_size


@dataclass
class Prepared:
    image: torch.Tensor  # (1, z, y, x) float32, normalised, on the target grid
    label: torch.Tensor | None  # (1, z, y, x) float32 binary foreground, same grid
    canonical: Volume  # the input as canonical views (original resolution)
    reorientation: Reorientation
    grid: GridMap  # where the target grid's voxels sit on the canonical one

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Actual (z, y, x) spacing of the target grid."""
        return self.grid.model_spacing(self.canonical.spacing)


def _to_output_range(t: torch.Tensor, cfg: dict[str, Any], clip: bool) -> torch.Tensor:
    """[0, 1]-scaled values (in place) to [b_min, b_max], clipped there if asked."""
    if clip:
        t.clamp_(0.0, 1.0)
    b_min, b_max = float(cfg.get("b_min", 0.0)), float(cfg.get("b_max", 1.0))
    if (b_min, b_max) != (0.0, 1.0):
        t.mul_(b_max - b_min).add_(b_min)
    return t


def _percentile_scale(t: torch.Tensor, cfg: dict[str, Any]) -> torch.Tensor:
    # Percentiles on a strided sample: torch.quantile refuses >16M elements and is slow.
    sample = t.numpy()[..., ::2, ::2, ::2]
    lo, hi = np.percentile(sample, [float(cfg.get("lower", 0.5)), float(cfg.get("upper", 99.5))])
    t = (t - float(lo)) / max(float(hi - lo), 1e-6)
    return _to_output_range(t, cfg, bool(cfg.get("clip", False)))


def _window_inplace(t: torch.Tensor, cfg: dict[str, Any]) -> torch.Tensor:
    # Same result as MONAI ScaleIntensityRange(a_min, a_max, b_min, b_max, clip), in place: on a
    # 74M-voxel CT the MONAI transform's temporaries cost 15x more (0.9 s vs 0.06 s). Nodus's
    # own bundles clip (their configs predate the key).
    a_min, a_max = float(cfg["a_min"]), float(cfg["a_max"])
    t.sub_(a_min).div_(a_max - a_min)
    return _to_output_range(t, cfg, bool(cfg.get("clip", True)))


def _zscore_inplace(t: torch.Tensor, cfg: dict[str, Any]) -> torch.Tensor:
    # MONAI NormalizeIntensity: (x - mean) / std over the volume, or over its nonzero voxels
    # only (the others stay 0) with nonzero=True; a constant volume is only shifted.
    if cfg.get("nonzero", False):
        mask = t != 0
        values = t[mask]
        if values.numel() == 0:
            return t
        mean, std = values.mean(), values.std(unbiased=False)
        t[mask] = (values - mean) / (std if float(std) > 0 else 1.0)
        return t
    mean, std = t.mean(), t.std(unbiased=False)
    return t.sub_(mean).div_(std if float(std) > 0 else 1.0)


def _minmax_inplace(t: torch.Tensor, cfg: dict[str, Any]) -> torch.Tensor:
    # MONAI ScaleIntensity(minv, maxv): the volume's own range to [minv, maxv]
    lo, hi = float(t.min()), float(t.max())
    t.sub_(lo).div_(hi - lo if hi > lo else 1.0)
    return _to_output_range(t, cfg, False)


_INTENSITY = {"percentile": _percentile_scale, "window": _window_inplace,
              "zscore": _zscore_inplace, "minmax": _minmax_inplace}
INTENSITY_MODES = tuple(_INTENSITY)


def intensity_steps(params: dict[str, Any]) -> Compose:
    steps: list[Any] = []
    if float(params.get("denoise_sigma", 0.0)) > 0:
        steps.append(GaussianSmoothd(keys="image", sigma=float(params["denoise_sigma"])))
    return Compose(steps)


def model_axes_for(params: dict[str, Any]) -> Reorientation:
    """The model's input axes named by the params (Nodus's canonical SPL when unsaid)."""
    return model_axes(str(params.get("model_axcodes", "SPL")))


def prepare(volume: Volume, params: dict[str, Any], label: np.ndarray | None = None, *,
            max_voxels: int | None = None) -> Prepared:
    canon, ro = canonical(volume)
    grid = model_grid(canon, params)
    if max_voxels is not None:
        check_size(grid.model_shape, max_voxels)
    image = resample_to_model(canon.array, grid)
    image = _INTENSITY[str(params["intensity"].get("mode", "window"))](image, params["intensity"])
    data = intensity_steps(params)({"image": image[None]})
    img = torch.as_tensor(data["image"]).float()
    lab = None
    if label is not None:
        # Linear resample of the binary mask then 0.5: matches how inference thresholds.
        fg = resample_to_model(ro.apply(np.asarray(label) > 0).astype(np.float32), grid)
        lab = (fg >= 0.5).float()[None]
    return Prepared(img, lab, canon, ro, grid)


def model_grid(canon: Volume, params: dict[str, Any]) -> GridMap:
    """The bundle's resampled grid over a canonical volume."""
    # target_spacing is per axis of the model's array (MONAI Spacingd's pixdim): (z, y, x) for
    # Nodus's own bundles, (x, y, z) for a MONAI zoo bundle trained on RAS
    axes = model_axes_for(params)
    target, against = [0.0, 0.0, 0.0], [False, False, False]
    for model_axis, canon_axis in enumerate(axes.perm):
        # 0: the scan's own spacing on that axis (MONAI Spacingd's pixdim <= 0)
        target[canon_axis] = float(params["target_spacing"][model_axis]) or canon.spacing[canon_axis]
        against[canon_axis] = axes.flip[model_axis]
    spacing = (target[0], target[1], target[2])
    if params.get("grid", "extent") == "spacing":
        return spacing_grid(canon.shape, canon.spacing, spacing,
                            (against[0], against[1], against[2]))
    return extent_grid(canon.shape, canon.spacing, spacing)
