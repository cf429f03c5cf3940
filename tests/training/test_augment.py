"""BalancedCropsd: crops where the indices say, inside the volume, reproducible by seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from training.augment import BalancedCropsd, crop_start, thicken_slices


def _item() -> dict:
    image = torch.arange(30 * 40 * 50, dtype=torch.float32).reshape(1, 30, 40, 50) / 1e5
    label = torch.zeros(1, 30, 40, 50, dtype=torch.uint8)
    label[0, 3:6, 4:7, 5:8] = 1  # a lesion near a corner: crops there must shift inwards
    fg = np.flatnonzero(label[0].numpy().ravel())
    bg = np.ravel_multi_index(([25], [30], [40]), (30, 40, 50))  # one far background voxel
    return {"image": MetaTensor(image), "label": MetaTensor(label), "label_fg": fg,
            "label_bg": bg}


def test_crop_start_stays_inside() -> None:
    assert crop_start(20, 16, 50) == 12
    assert crop_start(3, 16, 50) == 0
    assert crop_start(48, 16, 50) == 34
    assert crop_start(5, 16, 10) == 0  # smaller than the window: start at 0


def test_positive_crops_hold_the_lesion_and_negative_ones_do_not() -> None:
    item = _item()
    t = BalancedCropsd((16, 16, 16), num_samples=40, pos=0.5, flip_prob=0.0, intensity_prob=0.0)
    t.set_random_state(seed=0)
    crops = t(item)
    assert len(crops) == 40
    n_pos = 0
    for c in crops:
        assert c["image"].shape == c["label"].shape == (1, 16, 16, 16)
        assert not isinstance(c["image"], MetaTensor)
        # unaugmented crops are the source voxels: find where the window starts
        first = int(round(float(c["image"][0, 0, 0, 0]) * 1e5))
        z, y, x = np.unravel_index(first, (30, 40, 50))
        src = item["image"].as_tensor()[0, z:z + 16, y:y + 16, x:x + 16]
        assert torch.equal(c["image"][0], src)
        if c["label"].any():
            n_pos += 1
            assert (z, y, x) == (0, 0, 0)  # the corner lesion pulls the window to the edge
        else:
            assert (z, y, x) == (14, 22, 32)  # the background voxel at (25, 30, 40)
    assert 10 <= n_pos <= 30


def test_flip_and_intensity_and_seed() -> None:
    item = _item()
    t = BalancedCropsd((16, 16, 16), num_samples=8, pos=1.0, flip_prob=1.0, intensity_prob=0.0)
    t.set_random_state(seed=1)
    src = item["image"].as_tensor()[0, :16, :16, :16]
    for c in t(item):
        assert torch.equal(c["image"][0], src.flip(-1))
        assert torch.equal(c["label"][0], item["label"].as_tensor()[0, :16, :16, :16].flip(-1))

    t = BalancedCropsd((16, 16, 16), num_samples=8, pos=1.0, flip_prob=0.0, intensity_prob=1.0)
    t.set_random_state(seed=2)
    a = t(item)
    for c in a:
        ratio = (c["image"][0] - c["image"][0, 0, 0, 0]) / (src - src[0, 0, 0]).clamp(min=1e-9)
        k = float(ratio[1:, 1:, 1:].mean())
        assert 0.95 <= k <= 1.05 and k != 1.0  # scaled by 1 + U(-0.05, 0.05)
    t.set_random_state(seed=2)
    b = t(item)
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(a, b, strict=True))


def test_mirrors_on_every_listed_axis_and_in_plane_swaps() -> None:
    item = _item()
    src = item["image"].as_tensor()[0, :16, :16, :16]
    lab = item["label"].as_tensor()[0, :16, :16, :16]
    t = BalancedCropsd((16, 16, 16), num_samples=64, pos=1.0, flip_axes=(0, 1, 2),
                       transpose_prob=0.5, intensity_prob=0.0)
    t.set_random_state(seed=3)
    seen = set()
    for c in t(item):
        for flips in [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]:
            for swap in (False, True):
                want = src.flip(flips) if flips else src
                want = want.transpose(-1, -2) if swap else want
                if torch.equal(c["image"][0], want):
                    lab_want = lab.flip(flips) if flips else lab
                    lab_want = lab_want.transpose(-1, -2) if swap else lab_want
                    assert torch.equal(c["label"][0], lab_want)  # label moves with the image
                    seen.add((flips, swap))
    assert len(seen) >= 12  # most of the 16 orientations drawn in 64 crops
    with pytest.raises(ValueError, match="square"):
        BalancedCropsd((16, 16, 8), num_samples=1, transpose_prob=0.5)
    with pytest.raises(ValueError, match="axes"):
        BalancedCropsd((16, 16, 16), num_samples=1, flip_axes=(3,))


def test_default_mirroring_replays_the_last_axis_flip_stream() -> None:
    """Older recipes (last-axis flip only, no swap) draw the same random numbers as before:
    per crop a pool draw, an index, one flip draw and the two intensity draws."""
    item = _item()
    t = BalancedCropsd((16, 16, 16), num_samples=32, pos=0.5, intensity_prob=0.0)
    t.set_random_state(seed=4)
    got = t(item)
    image = item["image"].as_tensor()[0]
    r = np.random.RandomState(4)
    fg, bg = item["label_fg"], item["label_bg"]
    flips = 0
    for c in got:
        from_fg = r.rand() < 0.5
        r.randint((fg if from_fg else bg).size)
        flipped = r.rand() < 0.5
        r.rand(), r.rand()  # intensity scale and shift, both off
        z, y, x = (0, 0, 0) if from_fg else (14, 22, 32)
        want = image[z:z + 16, y:y + 16, x:x + 16]
        assert torch.equal(c["image"][0], want.flip(-1) if flipped else want)
        flips += flipped
    assert 0 < flips < 32


def _sphere(radius: float, size: int = 32) -> torch.Tensor:
    g = torch.stack(torch.meshgrid(*[torch.arange(size, dtype=torch.float32)] * 3,
                                   indexing="ij"))
    return (((g - size / 2) ** 2).sum(0).sqrt() <= radius).float()[None]


def test_thicken_slices_keeps_the_grid_and_samples_every_step() -> None:
    ramp = torch.arange(20, dtype=torch.float32).view(1, 20, 1, 1).expand(1, 20, 3, 3).clone()
    img, lab = thicken_slices(ramp, (ramp >= 10).float(), 2.5, 0.5)
    assert img.shape == ramp.shape and lab.shape == ramp.shape
    # A linear ramp survives point sampling + linear interpolation between the slices (0.5,
    # 3.0, ... 18.0); rows outside the first and last slice take their value.
    want = ramp[0, :, 0, 0].clamp(0.5, 18.0)
    assert torch.allclose(img[0, :, 0, 0], want, atol=1e-5)
    assert torch.equal(lab[0, :, 0, 0], (want >= 9.5).float())  # linear label, then >= 0.5


def test_thicken_slices_blurs_a_small_nodule_along_z_only() -> None:
    ball = _sphere(2.2)
    img, lab = thicken_slices(ball.clone(), ball.clone(), 2.5, 1.3)
    centre = 16
    # In-plane, the slice through the centre row keeps its disc; along z the profile spreads
    # and loses its peak between samples, as a 4.4 mm nodule on 2.5 mm slices does.
    z_profile = img[0, :, centre, centre]
    assert int((z_profile > 0).sum()) > int((ball[0, :, centre, centre] > 0).sum())
    assert float(img.sum()) == pytest.approx(float(ball.sum()), rel=0.35)
    # In-plane nothing spreads: each row shows only discs of the slices it lies between.
    near = ball[0, centre - 3:centre + 3].amax(0) > 0
    assert bool(((img[0, centre] > 0) & ~near).sum() == 0)
    assert lab.any() and lab.sum() < 2 * ball.sum()


def test_thick_slice_crops_only_from_thinner_scans() -> None:
    ball = _sphere(3.0)
    fg = np.flatnonzero(ball[0].numpy().ravel())
    thin = {"image": ball.clone(), "label": ball.clone(), "label_fg": fg, "label_bg": fg,
            "slice_mm": 0.625, "grid_mm": 1.0}
    t = BalancedCropsd((32, 32, 32), num_samples=16, pos=1.0, flip_prob=0.0, intensity_prob=0.0,
                       thick_slice_prob=1.0)
    t.set_random_state(seed=5)
    assert all(not torch.equal(c["image"], ball) for c in t(thin))
    thick = {**thin, "slice_mm": 2.5}  # a scan already that thick is left as it is
    t.set_random_state(seed=5)
    assert all(torch.equal(c["image"], ball) for c in t(thick))
    off = BalancedCropsd((32, 32, 32), num_samples=16, pos=1.0, flip_prob=0.0,
                         intensity_prob=0.0)
    off.set_random_state(seed=5)
    assert all(torch.equal(c["image"], ball) for c in off(thin))
