"""Second detection stage: dense blobs the segmentation network left below its threshold,
re-scored by a small 3D patch classifier; the ones it is sure of become findings.

Classic two-stage CAD, added because the segmentation network consistently calls some small
nodules joined to a vessel "vessel" (BENCHMARKS.md, ninth and tenth sessions). A bundle opts in
with a `second_stage` section in inference.json and `models/second_stage.pt`; without them
inference is unchanged.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .blobs import BlobSettings, find_blobs
from .candidates import Candidate
from .errors import BundleError
from .grid import GridMap

CONFIG_KEY = "second_stage"
WEIGHTS = "models/second_stage.pt"
DEDUP_VOXELS = 6.0  # two accepted blobs closer than this are one finding


@dataclass(frozen=True)
class SecondStageParams:
    patch: int = 24  # cube side (model-grid voxels) the classifier sees
    threshold: float = 0.9  # classifier probability that makes a blob a finding
    min_radius: float = 2.5  # voxels painted around an accepted blob, at least
    blobs: BlobSettings = field(default_factory=BlobSettings)

    def to_config(self, network_def: dict[str, Any]) -> dict[str, Any]:
        """The inference.json section for these settings and classifier."""
        out = asdict(self)
        out["blobs"]["sigmas"] = list(self.blobs.sigmas)
        out["network_def"] = network_def
        return out


@dataclass
class SecondStage:
    network: torch.nn.Module
    params: SecondStageParams
    state_dict: dict[str, torch.Tensor]


def _number(section: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise BundleError(f"inference.json: second_stage.{key} must be a number in "
                          f"[{lo}, {hi}], got {value!r}")
    return float(value)


def parse_params(section: Any) -> SecondStageParams:
    """Validated settings of an inference.json `second_stage` section (BundleError if bad)."""
    if not isinstance(section, dict):
        raise BundleError("inference.json: second_stage must be an object")
    blob = section.get("blobs", {})
    if not isinstance(blob, dict):
        raise BundleError("inference.json: second_stage.blobs must be an object")
    d = BlobSettings()
    sigmas = blob.get("sigmas", list(d.sigmas))
    if (not isinstance(sigmas, list) or not 1 <= len(sigmas) <= 4 or not all(
            isinstance(s, int | float) and not isinstance(s, bool) and 0.5 <= s <= 8
            for s in sigmas)):
        raise BundleError(f"inference.json: second_stage.blobs.sigmas must list 1-4 scales "
                          f"of 0.5-8 voxels, got {sigmas!r}")
    blobs = BlobSettings(
        sigmas=tuple(float(s) for s in sigmas),
        dense_level=_number(blob, "dense_level", d.dense_level, -1e4, 1e4),
        air_level=_number(blob, "air_level", d.air_level, -1e4, 1e4),
        lung_margin=int(_number(blob, "lung_margin", d.lung_margin, 0, 32)),
        min_blobness=_number(blob, "min_blobness", d.min_blobness, 0, 1e4),
        max_candidates=int(_number(blob, "max_candidates", d.max_candidates, 1, 2000)),
        min_lung_voxels=int(_number(blob, "min_lung_voxels", d.min_lung_voxels, 0, 1e9)),
    )
    return SecondStageParams(
        patch=int(_number(section, "patch", 24, 8, 64)),
        threshold=_number(section, "threshold", 0.9, 0.5, 1.0),
        min_radius=_number(section, "min_radius", 2.5, 1.0, 10.0),
        blobs=blobs,
    )


def check_classifier(net: torch.nn.Module, patch: int) -> None:
    """The classifier must map a (1, 1, p, p, p) patch to one logit."""
    net.eval()
    try:
        with torch.inference_mode():
            out = net(torch.zeros(1, 1, patch, patch, patch))
    except RuntimeError as exc:
        raise BundleError(f"second_stage network fails on a {patch}^3 patch: "
                          f"{str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        raise BundleError("second_stage network must give one logit per patch")


def patches_at(image: np.ndarray, points: np.ndarray, patch: int) -> np.ndarray:
    """(n, patch, patch, patch) cubes centred on `points`; outside the image reads 0 (air)."""
    half = patch // 2
    out = np.zeros((len(points), patch, patch, patch), dtype=np.float32)
    for k, centre in enumerate(points):
        src, dst = [], []
        for c, n in zip(centre, image.shape, strict=True):
            lo, hi = int(c) - half, int(c) - half + patch
            src.append(slice(max(lo, 0), min(hi, n)))
            dst.append(slice(max(lo, 0) - lo, patch - (hi - min(hi, n))))
        out[k][tuple(dst)] = image[tuple(src)]
    return out


def score_patches(net: torch.nn.Module, patches: np.ndarray, device: torch.device,
                  autocast: Any, batch: int = 16) -> np.ndarray:
    """Classifier probability per patch, averaged with the patch mirrored on all axes.

    Channels-last and batches of 16: on a 2-core CPU half the time of contiguous batches of 64."""
    scores = np.zeros(len(patches), dtype=np.float32)
    net = net.to(device).eval().to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    last = torch.channels_last_3d
    with torch.inference_mode(), autocast:
        for start in range(0, len(patches), batch):
            x = torch.from_numpy(patches[start:start + batch])[:, None].to(device)
            logit = (net(x.contiguous(memory_format=last)).float().reshape(-1)
                     + net(x.flip(2, 3, 4).contiguous(memory_format=last)).float().reshape(-1))
            scores[start:start + batch] = torch.sigmoid(logit / 2).cpu().numpy()
    return scores


def add_findings(stage: SecondStage, image: np.ndarray, prob: np.ndarray, *, threshold: float,
                 device: torch.device, autocast: Any,
                 timings: dict[str, float] | None = None) -> list[np.ndarray]:
    """Paint confident blobs that stage one missed into `prob` (in place); return their centres
    (model-grid voxel indices). `timings` (if given) gets the blob search's and the classifier's
    seconds.

    A finding is a ball (at least `min_radius`, larger for blobs found at a larger scale) of the
    blob's dense voxels, given the classifier's probability, so the usual thresholding and
    component measurement turn it into a candidate with that probability."""
    p = stage.params
    clock = time.perf_counter()
    blobs = find_blobs(image, p.blobs)
    if timings is not None:
        timings["second_stage_blobs"] = time.perf_counter() - clock
    if len(blobs.points) == 0:
        return []
    near = [float(prob[tuple(slice(max(c - 2, 0), c + 3) for c in pt)].max())
            for pt in blobs.points]
    todo = np.array([v < threshold for v in near])
    if not todo.any():
        return []
    points, sigmas = blobs.points[todo], blobs.sigma[todo]
    clock = time.perf_counter()
    scores = score_patches(stage.network, patches_at(image, points, p.patch), device, autocast)
    if timings is not None:
        timings["second_stage_classifier"] = time.perf_counter() - clock
    accepted: list[np.ndarray] = []
    for k in np.argsort(-scores, kind="stable"):
        if scores[k] < p.threshold:
            break
        centre = points[k]
        if any(np.linalg.norm(centre - a) < DEDUP_VOXELS for a in accepted):
            continue
        accepted.append(centre)
        radius = max(p.min_radius, float(sigmas[k]) * np.sqrt(3.0))
        r = int(np.ceil(radius))
        box = tuple(slice(max(c - r, 0), min(c + r + 1, n))
                    for c, n in zip(centre, image.shape, strict=True))
        grid = np.ogrid[box[0], box[1], box[2]]
        ball = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius ** 2
        ball &= image[box] > p.blobs.dense_level
        region = prob[box]
        region[ball] = np.maximum(region[ball], scores[k])
    return accepted


def mark_second_stage(candidates: list[Candidate], label: np.ndarray, centres: list[np.ndarray],
                      grid: GridMap) -> None:
    """Set `detector` on the candidates (label map `label`, canonical grid) that hold a second-
    stage centre, given on the model grid."""
    by_label = {c.label: c for c in candidates}
    for centre in centres:
        idx = tuple(min(max(int(np.round(grid.to_canonical(axis, v))), 0), n - 1)
                    for axis, (v, n) in enumerate(zip(centre, label.shape, strict=True)))
        hit = by_label.get(int(label[idx]))
        if hit is not None:
            hit.detector = "second_stage"
