"""The hand-written preprocessing and inverse (inference/grid.py, inference/transforms.py) are
MONAI's dictionary transforms, computed faster: the same arrays and grid as Orientationd +
Resized (Nodus's bundles) or Spacingd (zoo bundles) + ScaleIntensityRanged on an LPS MetaTensor,
and the same inverse as Invertd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, Orientationd, Resized, ScaleIntensityRanged, Spacingd

from inference.grid import canonical, model_axes, resample_region, target_shape
from inference.transforms import prepare
from inference.volume import Volume
from inference.zoo import spacing_from_pixdim

WINDOW = {"mode": "window", "a_min": -1000.0, "a_max": 400.0}
# direction columns: the patient (LPS) direction of the array's x, y and z axes
DIRECTIONS = {
    "axial": np.eye(3),
    "axial feet first": np.diag([-1.0, 1.0, -1.0]),
    "sagittal, permuted and flipped": np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float),
}


def _volume(direction: np.ndarray) -> Volume:
    rng = np.random.default_rng(3)
    arr = rng.normal(-500, 400, (20, 30, 26)).astype(np.float32)
    return Volume(array=arr, spacing=(2.5, 0.7, 0.9), origin=(10.0, -20.0, 30.0),
                  direction=direction)


def _monai_pipeline(shape: tuple[int, int, int]) -> Compose:
    return Compose([
        Orientationd(keys="image", axcodes="SPL", labels=None),  # labels from the LPS space
        Resized(keys="image", spatial_size=shape, mode="trilinear"),
        ScaleIntensityRanged(keys="image", a_min=WINDOW["a_min"], a_max=WINDOW["a_max"],
                             b_min=0.0, b_max=1.0, clip=True),
    ])


@pytest.mark.parametrize("orientation", sorted(DIRECTIONS))
def test_prepare_and_its_inverse_equal_monai_dictionary_transforms(orientation: str) -> None:
    vol = _volume(DIRECTIONS[orientation])
    params = {"target_spacing": [1.0, 1.0, 1.0], "intensity": WINDOW, "denoise_sigma": 0.0}
    prep = prepare(vol, params)
    canon, ro = canonical(vol)
    shape = target_shape(canon.shape, canon.spacing, (1.0, 1.0, 1.0))
    pipeline = _monai_pipeline(shape)
    # MONAI's affine indexes the array as stored: (z, y, x) -> patient mm
    affine = torch.from_numpy(vol.lps_affine()[:, [2, 1, 0, 3]])
    data = pipeline({"image": MetaTensor(torch.from_numpy(vol.array)[None], affine=affine,
                                         meta={"space": "LPS"})})
    assert torch.equal(data["image"].as_tensor(), prep.image)

    # The model grid's geometry: spacing, and the patient position of its first voxel.
    grid = data["image"].affine.numpy()
    assert np.allclose(np.linalg.norm(grid[:3, :3], axis=0), prep.spacing)
    first = [(0.5 * n_in / n_out) - 0.5 for n_in, n_out in zip(canon.shape, shape, strict=True)]
    assert np.allclose(grid[:3, 3], canon.voxel_to_mm((first[0], first[1], first[2])), atol=1e-6)

    # A probability map on the model grid back on the input grid: Invertd vs the engine's
    # box-wise inverse (here over the whole grid) and the undone reorientation.
    prob = torch.rand(prep.image.shape, generator=torch.Generator().manual_seed(0))
    data["pred"] = MetaTensor(prob.clone(), meta=data["image"].meta,
                              applied_operations=data["image"].applied_operations)
    inverted = Invertd(keys="pred", transform=pipeline, orig_keys="image",
                       nearest_interp=False)(data)["pred"]
    ours = ro.undo(resample_region(prob[0].numpy(), prep.grid,
                                   tuple(slice(0, n) for n in canon.shape)))
    assert inverted.shape[1:] == vol.shape
    assert np.allclose(inverted[0].numpy(), ours, atol=1e-5)


@pytest.mark.parametrize(("axcodes", "pixdim"), [
    ("RAS", [1.5, 0.6, 2.0]),  # per model axis: coarser, finer (past the last centre), coarser
    ("LPI", [1.5, 0.6, 2.0]),
    ("RAS", [1.2, -1.0]),  # short (padded with its last value), <= 0: the scan's own spacing
])
@pytest.mark.parametrize("orientation", sorted(DIRECTIONS))
def test_spacing_grid_and_its_inverse_equal_monai_spacingd(orientation: str, axcodes: str,
                                                           pixdim: list[float]) -> None:
    """A zoo bundle's Spacingd: the exact pixdim from the first voxel's centre in the model's
    axis order (the far end of a canonical axis the model runs against), border padding."""
    vol = _volume(DIRECTIONS[orientation])
    params = {"target_spacing": spacing_from_pixdim(pixdim), "grid": "spacing",
              "model_axcodes": axcodes, "intensity": WINDOW, "denoise_sigma": 0.0}
    prep = prepare(vol, params)
    axes = model_axes(axcodes)
    pipeline = Compose([
        Orientationd(keys="image", axcodes=axcodes, labels=None),
        Spacingd(keys="image", pixdim=pixdim, mode="bilinear"),
        ScaleIntensityRanged(keys="image", a_min=WINDOW["a_min"], a_max=WINDOW["a_max"],
                             b_min=0.0, b_max=1.0, clip=True),
    ])
    affine = torch.from_numpy(vol.lps_affine()[:, [2, 1, 0, 3]])
    data = pipeline({"image": MetaTensor(torch.from_numpy(vol.array)[None], affine=affine,
                                         meta={"space": "LPS"})})
    seen = axes.apply_tensor(prep.image)
    assert seen.shape == data["image"].shape
    assert torch.allclose(data["image"].as_tensor(), seen, atol=1e-6)

    # same geometry: spacing per model axis and the patient position of the model's first voxel
    grid = data["image"].affine.numpy()
    assert np.allclose(np.linalg.norm(grid[:3, :3], axis=0),
                       [prep.spacing[c] for c in axes.perm])
    first = [0, 0, 0]  # the model's voxel (0, 0, 0) on the canonical-order grid
    for model_axis, c in enumerate(axes.perm):
        first[c] = prep.image.shape[1 + c] - 1 if axes.flip[model_axis] else 0
    canon_index = [float(prep.grid.to_canonical(c, first[c])) for c in range(3)]
    canon, ro = canonical(vol)
    assert np.allclose(grid[:3, 3], canon.voxel_to_mm((canon_index[0], canon_index[1],
                                                       canon_index[2])), atol=1e-6)

    # a probability map in the model's axes back on the input grid: Invertd vs the engine's
    prob = torch.rand(data["image"].shape, generator=torch.Generator().manual_seed(1))
    data["pred"] = MetaTensor(prob.clone(), meta=data["image"].meta,
                              applied_operations=data["image"].applied_operations)
    inverted = Invertd(keys="pred", transform=pipeline, orig_keys="image",
                       nearest_interp=False)(data)["pred"]
    ours = ro.undo(resample_region(axes.undo_tensor(prob)[0].numpy(), prep.grid,
                                   tuple(slice(0, n) for n in canon.shape)))
    assert inverted.shape[1:] == vol.shape
    assert np.allclose(inverted[0].numpy(), ours, atol=1e-5)
