"""Train a bundle's second detection stage: a small patch classifier on blob candidates.

    python -m training second-stage --bundle B --data DIR [--out B2] [--iterations N]

Examples come from the labelled cases on the bundle's own model grid: every blob candidate
`inference.blobs.find_blobs` proposes (positive when it lies inside a lesion) plus each lesion's
centre, so lesions the blob filter ranks low still teach the classifier. Crops are shifted by up
to three voxels, mirrored and swapped in-plane; positives are over-sampled to a fixed share.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch.nn.functional import binary_cross_entropy_with_logits

from inference.blobs import BlobSettings, find_blobs
from inference.bundle import Bundle, build_network, load_bundle, write_bundle
from inference.engine import autocast_for, pick_device
from inference.errors import BundleError, InvalidVolumeError
from inference.second_stage import CONFIG_KEY, SecondStageParams, patches_at
from inference.transforms import prepare

from .data import Case, load_case

SHIFT = 3  # voxels a training crop may be off-centre


@dataclass
class SecondStageConfig:
    iterations: int = 800
    batch_size: int = 32
    lr: float = 2e-3
    positive_share: float = 0.3
    seed: int = 0  # the starter recipe adds its run seed (python -m training starter --seed)
    patch: int = 24
    channels: tuple[int, ...] = (8, 16, 32, 32)
    # Stride of each level; None: full resolution first, then stride 2 (`classifier_def`).
    strides: tuple[int, ...] | None = None
    # Classifier probability that adds a finding: 0.9 added ~0.2 false positives per scan on
    # eighty validation phantoms (seeds 1040-1119, neither stage trained on them).
    threshold: float = 0.9
    blobs: BlobSettings = field(default_factory=BlobSettings)


def classifier_def(patch: int, channels: tuple[int, ...],
                   strides: tuple[int, ...] | None = None) -> dict[str, Any]:
    """MONAI Classifier; by default full resolution first, then stride-2 levels."""
    if strides is None:
        strides = (1,) + (2,) * (len(channels) - 1)
    if len(strides) != len(channels):
        raise BundleError(f"second stage: {len(channels)} channel levels but {len(strides)} "
                          "strides")
    return {"_target_": "monai.networks.nets.Classifier", "in_shape": [1, patch, patch, patch],
            "classes": 1, "channels": list(channels), "strides": list(strides),
            "num_res_units": 2, "norm": "batch"}


@dataclass
class Examples:
    patches: np.ndarray  # (n, s, s, s) float16, s = patch + 2 * SHIFT
    labels: np.ndarray  # (n,) float32 0/1
    scans: int


def collect_examples(bundle: Bundle, cases: list[Case], params: SecondStageParams,
                     log: Callable[[str], None] = print) -> Examples:
    side = params.patch + 2 * SHIFT
    patches, labels = [], []
    for case in cases:
        volume, raw = load_case(case)
        prep = prepare(volume, bundle.params, label=raw)
        if prep.label is None:
            raise InvalidVolumeError(f"case {case.case_id}: no label")
        image = prep.image[0].numpy()
        truth = prep.label[0].numpy() > 0
        blobs = find_blobs(image, params.blobs)
        lesions, n = ndimage.label(truth)
        centres = np.array(ndimage.center_of_mass(truth, lesions, range(1, n + 1))).reshape(-1, 3)
        points = np.concatenate([blobs.points, np.round(centres).astype(np.int64)])
        hit = truth[tuple(points.T)] if len(points) else np.zeros(0, bool)
        hit[len(blobs.points):] = True
        patches.append(patches_at(image, points, side).astype(np.float16))
        labels.append(hit.astype(np.float32))
    ex = Examples(np.concatenate(patches), np.concatenate(labels), len(cases))
    log(f"second stage: {len(ex.labels)} examples from {ex.scans} scans, "
        f"{int(ex.labels.sum())} positive")
    return ex


def _batch(ex: Examples, pos: np.ndarray, neg: np.ndarray, config: SecondStageConfig,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    n_pos = int(round(config.batch_size * config.positive_share)) if len(neg) else config.batch_size
    n_pos = n_pos if len(pos) else 0
    idx = np.concatenate([rng.choice(pos, n_pos) if n_pos else np.zeros(0, np.int64),
                          rng.choice(neg, config.batch_size - n_pos)
                          if config.batch_size > n_pos else np.zeros(0, np.int64)])
    p = config.patch
    out = np.empty((len(idx), 1, p, p, p), dtype=np.float32)
    for j, i in enumerate(idx):
        z, y, x = rng.integers(0, 2 * SHIFT + 1, size=3)
        crop = ex.patches[i, z:z + p, y:y + p, x:x + p].astype(np.float32)
        for axis in range(3):
            if rng.random() < 0.5:
                crop = np.flip(crop, axis)
        if rng.random() < 0.5:
            crop = crop.transpose(0, 2, 1)
        out[j, 0] = crop
    return torch.from_numpy(out), torch.from_numpy(ex.labels[idx])


def train_classifier(ex: Examples, config: SecondStageConfig, *, device: str | None = None,
                     log: Callable[[str], None] = print) -> tuple[torch.nn.Module, list[float]]:
    """Fit the classifier; returns it (eval mode) and the loss per 100 iterations."""
    if ex.labels.size == 0 or ex.labels.max() < 1:
        raise InvalidVolumeError("second stage: the cases hold no lesion to learn from")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    dev = pick_device(device)
    # channels-last, as finetune does: a quarter less time per iteration on CPU for this net
    net = build_network({"network_def": classifier_def(config.patch, config.channels,
                                                      config.strides)}).to(dev)
    net = net.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, pct_start=0.1,
                                                total_steps=max(config.iterations, 1))
    pos, neg = np.nonzero(ex.labels > 0)[0], np.nonzero(ex.labels == 0)[0]
    losses, running = [], 0.0
    net.train()
    for it in range(config.iterations):
        x, y = _batch(ex, pos, neg, config, rng)
        with autocast_for(dev):
            logit = net(x.to(dev, memory_format=torch.channels_last_3d)).reshape(-1)
        loss = binary_cross_entropy_with_logits(logit.float(), y.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if (it + 1) % 100 == 0 or it + 1 == config.iterations:
            losses.append(round(running / ((it % 100) + 1), 4))
            log(f"second stage: iteration {it + 1} loss {losses[-1]}")
            running = 0.0
    return net.eval(), losses


def attach_second_stage(bundle_dir: Path | str, cases: list[Case],
                        config: SecondStageConfig | None = None, *, out: Path | str | None = None,
                        device: str | None = None, command: str | None = None,
                        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a second stage for the bundle on `cases` and write the bundle (to `out`, or in
    place) with it; returns the training record also stored in metadata.json."""
    cfg = config or SecondStageConfig()
    params = SecondStageParams(patch=cfg.patch, threshold=cfg.threshold, blobs=cfg.blobs)
    network_def = classifier_def(cfg.patch, cfg.channels, cfg.strides)  # bad strides: fail now
    target = Path(out) if out is not None else Path(bundle_dir)
    if target.is_file():
        raise BundleError(f"{target.name} is a zip: give a folder to write the bundle to")
    bundle = load_bundle(bundle_dir)
    t0 = time.monotonic()
    ex = collect_examples(bundle, cases, params, log)
    net, losses = train_classifier(ex, cfg, device=device, log=log)
    record = {**{k: v for k, v in asdict(cfg).items() if k != "blobs"},
              "channels": list(cfg.channels),
              "strides": network_def["strides"],
              "examples": int(len(ex.labels)),
              "positives": int(ex.labels.sum()), "scans": ex.scans,
              "case_ids": sorted(c.case_id for c in cases), "losses": losses,
              "seconds": round(time.monotonic() - t0, 1), "command": command}
    config_json = {**bundle.config,
                   CONFIG_KEY: params.to_config(network_def)}
    metadata = {**bundle.metadata, "second_stage": record}
    write_bundle(target, metadata=metadata,
                 config=config_json, state_dict=bundle.state_dict,
                 second_stage_state={k: v.detach().cpu() for k, v in net.state_dict().items()})
    return record
