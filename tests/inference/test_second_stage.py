"""Second detection stage: blob candidates, the patch classifier in a bundle, and inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from scipy import ndimage

from inference import BundleError, Volume, load_bundle, run_inference
from inference.blobs import BlobSettings, _largest_eigenvalue, fill_holes_per_slice, find_blobs
from inference.bundle import write_bundle
from inference.second_stage import SecondStageParams, parse_params, patches_at
from tests.tiny_net import TINY_NET

PATCH = 16
CLASSIFIER = {"_target_": "monai.networks.nets.Classifier", "in_shape": [1, PATCH, PATCH, PATCH],
              "classes": 1, "channels": [4, 8], "strides": [1, 2], "num_res_units": 0}
BALL = (24, 30, 22)  # (z, y, x) voxel centre of the nodule in `chest`


def chest(shape=(48, 64, 64)) -> np.ndarray:
    """HU volume, 1 mm voxels: soft tissue around one lung crossed by a vessel along x (it
    leaves the lung at both ends) and a 6 mm nodule apart from it."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    hu = np.full(shape, 40.0, dtype=np.float32)
    lung = ((z - 24) / 18) ** 2 + ((y - 32) / 24) ** 2 + ((x - 32) / 26) ** 2 <= 1
    hu[lung] = -850
    vessel = ((z - 24) ** 2 + (y - 42) ** 2 <= 1.6**2) & np.ones_like(x, dtype=bool)
    hu[vessel & lung] = 40
    ball = (z - BALL[0]) ** 2 + (y - BALL[1]) ** 2 + (x - BALL[2]) ** 2 <= 3.0**2
    hu[ball] = 40
    return hu


def window(hu: np.ndarray) -> np.ndarray:
    return np.clip((hu + 1000) / 1400, 0, 1).astype(np.float32)


def test_largest_eigenvalue_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3, 3))
    sym = (a + a.transpose(0, 2, 1)) / 2
    comps = [sym[:, 0, 0], sym[:, 1, 1], sym[:, 2, 2], sym[:, 0, 1], sym[:, 0, 2], sym[:, 1, 2]]
    assert np.allclose(_largest_eigenvalue(comps), np.linalg.eigvalsh(sym)[:, -1], atol=1e-6)


def test_the_nodule_is_the_strongest_blob_and_the_vessel_is_none() -> None:
    blobs = find_blobs(window(chest()))
    assert len(blobs.points) >= 1
    assert np.abs(blobs.points[0] - np.array(BALL)).max() <= 1
    for p in blobs.points:  # a straight tube has a flat direction: no blob along it
        on_vessel = abs(p[0] - 24) <= 2 and abs(p[1] - 42) <= 2
        assert not (on_vessel and 15 <= p[2] <= 49), p


def test_no_lung_no_blobs() -> None:
    hu = chest()
    hu[hu < 0] = 40  # all soft tissue
    assert len(find_blobs(window(hu)).points) == 0
    assert len(find_blobs(np.zeros((4, 4, 4), np.float32)).points) == 0


def test_blob_count_is_capped() -> None:
    rng = np.random.default_rng(1)
    hu = chest()
    lung = hu == -850
    noisy = hu + rng.normal(0, 400, hu.shape).astype(np.float32) * lung
    many = find_blobs(window(noisy), BlobSettings(max_candidates=7))
    assert len(many.points) == 7
    assert np.all(np.diff(many.strength) <= 0)


def reference_blobs(image: np.ndarray, s: BlobSettings) -> tuple[np.ndarray, np.ndarray]:
    """find_blobs the plain way: every voxel's Hessian, numpy eigenvalues, a full maximum filter
    and scipy's hole filling slice by slice. The shipped version must agree exactly (up to
    float64 rounding in the eigenvalues), since the classifier was trained on its points."""
    small = image[::2, ::2, ::2] < s.air_level
    labels, n = ndimage.label(small)
    border = np.unique(np.concatenate([labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()]))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = (sizes * 8 >= s.min_lung_voxels) & ~np.isin(np.arange(n + 1), border)
    keep[0] = False
    lung = np.stack([ndimage.binary_fill_holes(sl) for sl in keep[labels]])
    lung = ndimage.binary_dilation(lung, iterations=max(1, (s.lung_margin + 1) // 2))
    lung = lung.repeat(2, 0).repeat(2, 1).repeat(2, 2)[: image.shape[0], : image.shape[1], : image.shape[2]]
    region = lung & (image > s.dense_level)
    region[[0, -1]] = region[:, [0, -1]] = region[:, :, [0, -1]] = False
    best = np.zeros(image.shape)
    for sigma in s.sigmas:
        g = ndimage.gaussian_filter(image, sigma, truncate=3.0).astype(np.float64)
        h = np.zeros((*image.shape, 3, 3))
        for a in range(3):
            for b in range(3):
                if a == b:  # (f(x+1) - 2 f(x) + f(x-1))
                    h[..., a, a] = np.roll(g, -1, a) - 2 * g + np.roll(g, 1, a)
                else:  # central difference of central differences
                    h[..., a, b] = np.gradient(np.gradient(g, axis=a), axis=b)
        largest = np.linalg.eigvalsh(h)[..., -1]
        best = np.maximum(best, np.where(region & (largest < 0), -largest * sigma**2, 0))
    peaks = (best == ndimage.maximum_filter(best, size=5)) & (best > s.min_blobness)
    points = np.argwhere(peaks)
    order = np.argsort(-best[peaks], kind="stable")[: s.max_candidates]
    return points[order], best[peaks][order]


def test_fast_blob_finder_agrees_with_the_plain_computation() -> None:
    rng = np.random.default_rng(3)
    hu = chest()
    hu += rng.normal(0, 250, hu.shape).astype(np.float32) * (hu < 0)
    hu[10:14, 20:26, 20:26] = -850  # an air pocket outside the lungs' hole filling
    hu[:, :7, :] = -1000  # air outside the body along the in-plane border is not lung,
    hu[1:6, 3:9, 5:10] = 40  # so this bump on the skin is no candidate
    image, s = window(hu), BlobSettings(max_candidates=2000)
    blobs = find_blobs(image, s)
    points, strength = reference_blobs(image, s)
    assert len(blobs.points) == len(points) >= 20
    assert np.allclose(blobs.strength, strength, rtol=1e-4)
    assert np.array_equal(blobs.points, points)


def test_holes_are_filled_slice_by_slice_as_scipy_does() -> None:
    rng = np.random.default_rng(4)
    mask = rng.random((6, 40, 40)) > 0.3
    expected = np.stack([ndimage.binary_fill_holes(sl) for sl in mask])
    assert not np.array_equal(expected, mask)  # there are holes to fill
    assert np.array_equal(fill_holes_per_slice(mask), expected)


def test_patches_are_centred_and_padded_with_air() -> None:
    image = np.arange(10 * 10 * 10, dtype=np.float32).reshape(10, 10, 10) + 1
    cubes = patches_at(image, np.array([[5, 5, 5], [0, 9, 0]]), 4)
    assert cubes.shape == (2, 4, 4, 4)
    assert cubes[0, 2, 2, 2] == image[5, 5, 5]
    assert np.array_equal(cubes[0], image[3:7, 3:7, 3:7])
    assert cubes[1, 0, 0, 0] == 0 and cubes[1, 2, 2, 2] == image[0, 9, 0]


@pytest.mark.parametrize("section, message", [
    ([1], "must be an object"),
    ({"threshold": 0.2}, "threshold"),
    ({"patch": 500}, "patch"),
    ({"blobs": {"sigmas": "1,2"}}, "sigmas"),
    ({"blobs": {"max_candidates": True}}, "max_candidates"),
])
def test_bad_second_stage_settings_are_refused(section, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_params(section)


def _constant(net_def: dict, bias: list[float]) -> tuple[torch.nn.Module, dict]:
    """The network with zero weights and the given output bias: a fixed answer everywhere."""
    torch.manual_seed(0)
    net = ConfigParser({"n": dict(net_def)}).get_parsed_content("n")
    state = {k: torch.zeros_like(v) if k.endswith("weight") and v.dim() > 1 else v
             for k, v in net.state_dict().items()}
    last = [k for k, v in state.items() if k.endswith("bias") and v.shape == (len(bias),)][-1]
    state[last] = torch.tensor(bias)
    return net, state


def two_stage_bundle(root: Path, classifier_bias: float, threshold: float = 0.9) -> Path:
    """A first stage that sees nothing and a classifier that says `sigmoid(classifier_bias)`."""
    _, first = _constant(TINY_NET, [5.0, -5.0])
    _, second = _constant(CLASSIFIER, [classifier_bias])
    section = SecondStageParams(patch=PATCH, threshold=threshold).to_config(CLASSIFIER)
    config = {"network_def": TINY_NET, "target_spacing": [1.0, 1.0, 1.0],
              "roi_size": [32, 32, 32], "second_stage": section}
    return write_bundle(root, metadata={"name": "two-stage", "version": "0.1.0"}, config=config,
                        state_dict=first, second_stage_state=second)


def test_second_stage_adds_the_nodule_the_first_stage_missed(tmp_path: Path) -> None:
    vol = Volume(array=chest(), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    stages: list[str] = []
    sure = run_inference(load_bundle(two_stage_bundle(tmp_path / "a", 5.0)), vol,
                         device="cpu", on_progress=lambda f, s: stages.append(s))
    assert "second stage" in stages
    assert {"second_stage", "second_stage_blobs", "second_stage_classifier"} <= set(sure.timings)
    assert sure.timings["second_stage"] >= sure.timings["second_stage_blobs"]
    assert len(sure.candidates) >= 1
    best = max(sure.candidates, key=lambda c: c.probability_max)
    assert best.probability_max == pytest.approx(1 / (1 + np.exp(-5.0)), abs=0.01)
    assert np.abs(np.array(best.centroid_voxel) - np.array(BALL)).max() <= 1.5
    assert sure.label[BALL] == best.label
    assert best.detector == "second_stage" and best.to_dict()["detector"] == "second_stage"
    assert 4 <= best.diameter_mm <= 9

    unsure = run_inference(load_bundle(two_stage_bundle(tmp_path / "b", -5.0)), vol,
                           device="cpu")
    assert unsure.candidates == [] and unsure.label.max() == 0


def test_second_stage_loading_errors(tmp_path: Path) -> None:
    root = two_stage_bundle(tmp_path / "b", 1.0)
    assert load_bundle(root).second_stage is not None
    (root / "models" / "second_stage.pt").unlink()
    with pytest.raises(BundleError, match="missing models/second_stage.pt"):
        load_bundle(root)

    root = two_stage_bundle(tmp_path / "c", 1.0)
    torch.save({"final.weight": torch.zeros(3)}, root / "models" / "second_stage.pt")
    with pytest.raises(BundleError, match="weights do not fit second_stage"):
        load_bundle(root)

    cfg_path = root / "configs" / "inference.json"
    for network, message in (
            ({"_target_": "torch.nn.Linear", "in_features": 1, "out_features": 1},
             "must be a MONAI network"),
            ({**CLASSIFIER, "classes": 2}, "one logit")):
        cfg = json.loads(cfg_path.read_text())
        cfg["second_stage"]["network_def"] = network
        cfg_path.write_text(json.dumps(cfg))
        torch.manual_seed(0)
        net = ConfigParser({"n": dict(network)}).get_parsed_content("n")
        torch.save(net.state_dict(), root / "models" / "second_stage.pt")
        with pytest.raises(BundleError, match=message):
            load_bundle(root)
