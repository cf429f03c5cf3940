"""Fine-tune a bundle's network on labelled cases, checkpointing every epoch, then export."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader
from monai.losses import DiceCELoss
from monai.transforms import Compose, MapTransform, SpatialPadd

from inference.bundle import Bundle, load_bundle
from inference.engine import autocast_for, pick_device, precision_for, predict_probability
from inference.errors import InferenceError
from inference.transforms import model_axes_for, prepare

from .augment import BalancedCropsd
from .data import Case, load_case, split_by_patient
from .export import export_bundle
from .metrics import dice
from .recipe import FinetuneConfig as FinetuneConfig  # re-exported: callers build it here
from .sampling import CropCentresd

CHECKPOINT = "checkpoint.pt"


class TrainingCancelled(InferenceError):
    """`should_cancel()` returned True; the last epoch checkpoint is kept for resuming."""


@dataclass
class Progress:
    iteration: int
    epoch: int
    loss: float
    lr: float
    val: dict[str, float] | None


@dataclass
class FinetuneResult:
    bundle_dir: Path
    metrics: dict[str, Any]
    epochs: int
    history: list[dict[str, Any]] = field(default_factory=list)


class PrepareCased(MapTransform):
    """Case -> preprocessed (image, label) tensors on the bundle's grid (cached by CacheDataset)."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(keys=["case"])
        self.params = params

    def __call__(self, data: Any) -> dict[str, Any]:
        volume, label = load_case(data["case"])
        prep = prepare(volume, self.params, label)
        # z spacings (mm) of the scan's slices and of the model grid, for `BalancedCropsd`.
        return {"image": prep.image, "label": prep.label, "case_id": data["case"].case_id,
                "slice_mm": float(prep.canonical.spacing[0]), "grid_mm": float(prep.spacing[0])}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_transforms(config: FinetuneConfig) -> Compose:
    return Compose([
        SpatialPadd(keys=["image", "label"], spatial_size=config.roi_size),  # small volumes
        # Crop centres are indexed once (cached) instead of on every crop.
        CropCentresd(per_lesion=config.per_lesion, hard_share=config.hard_share,
                     contrast=config.contrast, seed=config.seed),
        BalancedCropsd(config.roi_size, config.num_samples, pos=config.pos_fraction,
                       flip_axes=config.flip_axes, transpose_prob=config.transpose_prob,
                       thick_slice_prob=config.thick_slice_prob),
    ])


def validate(bundle: Bundle, items: list[dict[str, Any]], device: torch.device) -> dict[str, float]:
    """Voxel Dice on the model grid for each validation case (mean)."""
    scores = []
    for item in items:
        prob = predict_probability(bundle, item["image"], device)
        d = dice(prob >= float(bundle.params["threshold"]), item["label"][0].numpy() > 0)
        if d is not None:
            scores.append(d)
    return {"val_dice": float(np.mean(scores)) if scores else 0.0}


def finetune(
    base_bundle: Path | str,
    cases: list[Case],
    config: FinetuneConfig,
    out_dir: Path | str,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    parent_version: str | None = None,
    command: str | None = None,
    device: str | None = None,
) -> FinetuneResult:
    """Train from `base_bundle`; resumes from `out_dir/checkpoint.pt` when it exists."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    bundle = load_bundle(base_bundle)
    if bundle.out_channels > 1 and bundle.params.get("activation") == "sigmoid":
        raise InferenceError("fine-tuning a multi-label (sigmoid) network is not supported: "
                             "Nodus's reviewed labels name one lesion class")
    if not cases:
        raise InferenceError("no training cases")
    train_cases, val_cases = split_by_patient(cases, config.val_fraction, config.seed)
    dev = pick_device(device)
    # channels-last 3D: oneDNN's fast convolution layout (1.4x per iteration on a 2-core CPU)
    net = bundle.network.to(dev).to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    # Static shapes: the epoch's smaller last batch gets its own graph (one more compile)
    # instead of a dynamic-batch graph that then runs every full batch 15 % slower.
    train_net = torch.compile(net, dynamic=False) if config.compile else net
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(config.max_epochs, 1))
    scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    history: list[dict[str, Any]] = []
    start_epoch, iteration, best = 0, 0, -1.0
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    ckpt_path = out / CHECKPOINT
    if ckpt_path.exists():  # resume after an interruption
        # weights_only: a checkpoint is data (tensors, numbers, lists), never pickled code.
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start_epoch, iteration, best = ckpt["epoch"] + 1, ckpt["iteration"], ckpt["best"]
        best_state, history = ckpt["best_state"], ckpt["history"]
        torch.set_rng_state(ckpt["torch_rng"])
        name, keys, pos, has_gauss, cached = ckpt["numpy_rng"]
        np.random.set_state((name, keys.numpy(), pos, has_gauss, cached))
        random.setstate(ckpt["python_rng"])

    prep = PrepareCased(bundle.params)
    axes = model_axes_for(bundle.params)
    # A multi-class zoo network learns reviewed lesions as its (first) lesion channel.
    lesion_class = (int(bundle.params["foreground_channels"][0]) if bundle.out_channels > 2
                    else 1)
    augment = train_transforms(config)
    # A flat list: CacheDataset caches up to the first Randomizable transform and a nested
    # Compose counts as one, which recomputed the crop centres for every item (0.45 s/iteration).
    train_ds = CacheDataset([{"case": c} for c in train_cases], transform=Compose(
        [prep, *augment.transforms]), cache_rate=1.0, num_workers=None, progress=False)
    val_items = [prep({"case": c}) for c in val_cases]
    t_start = time.monotonic()
    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.max_epochs):
        # Re-seed per epoch so a resumed run replays exactly what an uninterrupted one does.
        augment.set_random_state(seed=config.seed + epoch)
        loader = DataLoader(train_ds, batch_size=config.batch_size, shuffle=True,
                            num_workers=config.num_workers,
                            generator=torch.Generator().manual_seed(config.seed + epoch))
        net.train()
        losses = []
        for batch in loader:
            if should_cancel is not None and should_cancel():
                raise TrainingCancelled(f"training cancelled in epoch {epoch}")
            x, y = batch["image"], batch["label"]
            if not axes.identity:  # a zoo model trained on other axes (RAS) sees its own
                x, y = axes.apply_tensor(x), axes.apply_tensor(y)
            x = x.to(dev, memory_format=torch.channels_last_3d)
            y = y.to(dev) if lesion_class == 1 else (y * lesion_class).to(dev)
            opt.zero_grad(set_to_none=True)
            with autocast_for(dev):
                loss = loss_fn(train_net(x).float(), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            iteration += 1
            losses.append(float(loss.detach()))
            if on_progress is not None:
                on_progress(Progress(iteration, epoch, losses[-1], opt.param_groups[0]["lr"],
                                     None))
        sched.step()
        val = None
        if val_items and ((epoch + 1) % config.val_every == 0 or epoch + 1 == config.max_epochs):
            net.eval()
            val = validate(bundle, val_items, dev)
            if val["val_dice"] > best:
                best = val["val_dice"]
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif not val_items:
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        row = {"epoch": epoch, "iteration": iteration, "loss": float(np.mean(losses or [0.0])),
               "lr": opt.param_groups[0]["lr"], "seconds": round(time.monotonic() - t_start, 1),
               **(val or {})}
        row = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}
        history.append(row)
        if on_progress is not None:
            on_progress(Progress(iteration, epoch, row["loss"], row["lr"], val))
        torch.save({
            "model": net.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "epoch": epoch, "iteration": iteration,
            "best": best, "best_state": best_state, "history": history,
            "torch_rng": torch.get_rng_state(), "numpy_rng": _numpy_rng_state(),
            "python_rng": random.getstate(), "config": asdict(config),
        }, out / (CHECKPOINT + ".tmp"))
        (out / (CHECKPOINT + ".tmp")).replace(ckpt_path)
        if config.max_minutes is not None and (time.monotonic() - t_start) / 60 > \
                config.max_minutes:
            break
    metrics = {"val_dice": best} if val_items else {}
    bundle_dir = export_bundle(
        bundle, best_state, out / "bundle", metrics=metrics,
        train_ids=[c.case_id for c in train_cases], val_ids=[c.case_id for c in val_cases],
        parent_version=parent_version or bundle.version, command=command,
        training={**asdict(config), "epochs_run": epoch + 1, "iterations": iteration,
                  "device": dev.type, "precision": precision_for(dev),
                  "seconds": round(time.monotonic() - t_start, 3)},
    )
    return FinetuneResult(bundle_dir=bundle_dir, metrics=metrics, epochs=epoch + 1,
                          history=history)


def _numpy_rng_state() -> tuple[str, torch.Tensor, int, int, float]:
    """NumPy's RNG state with its key array as a tensor, so the checkpoint loads weights_only."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    return str(name), torch.from_numpy(np.asarray(keys).copy()), int(pos), int(has_gauss), float(cached)
