"""Random training crops and augmentation on plain tensors, in one transform.

MONAI's crop, flip and intensity transforms carry MetaTensor metadata (affine, applied-operation
stack) through every step; on a 2-core CPU that bookkeeping cost ~0.1 s of a ~0.4 s iteration,
for crops whose metadata nothing reads. This transform draws the same things (crop centres from
the cached lesion / background indices, a left-right flip, an intensity scale and shift) with
slicing on plain tensors.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import MapTransform, Randomizable

from .recipe import check_crop_augmentation


def plain(t: Any) -> torch.Tensor:
    """A torch tensor without MONAI metadata (numpy arrays are wrapped, not copied)."""
    if isinstance(t, MetaTensor):
        return t.as_tensor()
    return t if isinstance(t, torch.Tensor) else torch.as_tensor(t)


THICK_SLICE_MM = (2.0, 2.5)  # the thick end of routine chest CT reconstructions


def resample_z(t: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear samples of a (C, Z, Y, X) tensor at fractional z `positions` (inside [0, Z-1])."""
    lo = positions.floor().long().clamp(0, t.shape[1] - 1)
    hi = (lo + 1).clamp(max=t.shape[1] - 1)
    w = (positions - lo.to(positions.dtype)).to(t.dtype).view(1, -1, 1, 1)
    return t[:, lo] * (1 - w) + t[:, hi] * w


def thicken_slices(image: torch.Tensor, label: torch.Tensor, step: float, phase: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A crop as a scan with slices every `step` voxels (first at `phase`) would show it after
    linear resampling to this grid, as `inference.transforms.prepare` does with thick slices:
    the slices are point samples of the crop, the grid is interpolated between them. The label
    goes the same way and is thresholded at 0.5, as `prepare` thresholds a resampled truth."""
    z = image.shape[1]
    slices = torch.arange(phase, z - 1 + 1e-6, step, dtype=torch.float64)
    if len(slices) < 2:
        return image, label
    # Each grid row as a fractional slice index; rows beyond the first or last slice take it.
    between = ((torch.arange(z, dtype=torch.float64) - phase) / step).clamp(0, len(slices) - 1)
    img = resample_z(resample_z(image, slices), between)
    lab = resample_z(resample_z(label.float(), slices), between)
    return img, (lab >= 0.5).to(label.dtype)


def crop_start(centre: int, roi: int, size: int) -> int:
    """First index of a `roi`-long window centred on `centre`, shifted to stay inside `size`."""
    return int(min(max(centre - roi // 2, 0), max(size - roi, 0)))


class BalancedCropsd(Randomizable, MapTransform):
    """`num_samples` crops of `roi_size` from `image` and `label` (channel first): a `pos` share
    centred on a voxel of `label_fg`, the rest on `label_bg` (flat indices, `CropCentresd`);
    each crop mirrored along each spatial axis in `flip_axes` with probability `flip_prob`, its
    two in-plane axes swapped with probability `transpose_prob` (square in-plane crops only),
    its intensity scaled by 1 + U(-scale, scale) and shifted by U(-shift, shift), each with
    probability `intensity_prob`; with probability `thick_slice_prob`, a crop from a scan with
    thinner slices than a draw from `THICK_SLICE_MM` is re-sampled as if it had those
    (`thicken_slices`; the case's "slice_mm" and "grid_mm" z spacings say). Returns a list of
    {"image", "label"} dicts, as MONAI's multi-sample crops do."""

    def __init__(self, roi_size: tuple[int, int, int], num_samples: int, pos: float = 0.5,
                 flip_prob: float = 0.5, scale: float = 0.05, shift: float = 0.03,
                 intensity_prob: float = 0.5, flip_axes: tuple[int, ...] = (2,),
                 transpose_prob: float = 0.0, thick_slice_prob: float = 0.0) -> None:
        MapTransform.__init__(self, keys=["image", "label"])
        self.roi_size, self.num_samples, self.pos = tuple(roi_size), num_samples, pos
        self.flip_prob, self.scale, self.shift = flip_prob, scale, shift
        self.intensity_prob = intensity_prob
        self.flip_axes = tuple(int(a) for a in flip_axes)
        check_crop_augmentation(self.roi_size, self.flip_axes, transpose_prob)  # a ValueError
        self.transpose_prob = transpose_prob
        self.thick_slice_prob = thick_slice_prob

    def randomize(self, data: Any = None) -> None:  # draws happen per crop in __call__
        pass

    def _centre(self, fg: np.ndarray, bg: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...]:
        pool = fg if fg.size and (not bg.size or self.R.rand() < self.pos) else bg
        if not pool.size:  # neither list: anywhere
            return tuple(int(self.R.randint(n)) for n in shape)
        flat = int(pool[self.R.randint(pool.size)])
        return tuple(int(v) for v in np.unravel_index(flat, shape))

    def __call__(self, data: Mapping[Hashable, Any]) -> list[dict[str, torch.Tensor]]:
        image, label = plain(data["image"]), plain(data["label"])
        shape = tuple(image.shape[1:])
        fg = np.asarray(data.get("label_fg", np.zeros(0, dtype=np.int64)))
        bg = np.asarray(data.get("label_bg", np.zeros(0, dtype=np.int64)))
        out = []
        for _ in range(self.num_samples):
            centre = self._centre(fg, bg, shape)
            starts = [crop_start(c, r, n) for c, r, n in zip(centre, self.roi_size, shape,
                                                             strict=True)]
            window = tuple(slice(s, s + r) for s, r in zip(starts, self.roi_size, strict=True))
            img = image[(slice(None), *window)].clone()
            lab = label[(slice(None), *window)].clone()
            if self.thick_slice_prob > 0 and self.R.rand() < self.thick_slice_prob:
                img, lab = self._thicken(img, lab, data)
            # One draw per listed axis, none for the swap when it is off: the default
            # (last axis only, no swap) replays the random stream of earlier versions.
            flips = [a + 1 for a in self.flip_axes if self.R.rand() < self.flip_prob]
            if flips:
                img, lab = img.flip(flips), lab.flip(flips)
            if self.transpose_prob > 0 and self.R.rand() < self.transpose_prob:
                img, lab = img.transpose(-1, -2), lab.transpose(-1, -2)
            if self.R.rand() < self.intensity_prob:
                img *= 1.0 + self.R.uniform(-self.scale, self.scale)
            if self.R.rand() < self.intensity_prob:
                img += self.R.uniform(-self.shift, self.shift)
            out.append({"image": img, "label": lab})
        return out

    def _thicken(self, img: torch.Tensor, lab: torch.Tensor, data: Mapping[Hashable, Any]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        grid_mm = float(data.get("grid_mm", 1.0))
        slice_mm = float(data.get("slice_mm", grid_mm))
        thick = float(self.R.uniform(*THICK_SLICE_MM))
        step = thick / grid_mm
        if thick < 1.25 * slice_mm or step <= 1.0:  # already about that thick
            return img, lab
        return thicken_slices(img, lab, step, float(self.R.uniform(0.0, step)))
