"""Fine-tuning throughput of training.finetune vs a bare MONAI training loop on the same data
(same cached dataset, crop centres, network, loss and optimiser; MONAI's own crop, flip and
intensity transforms in the bare loop), side by side.

    .venv/bin/python bench/training.py [--epochs N]

Both sides run on the device `finetune` picks (CUDA when present) at the same precision.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/inference.py would shadow the
# `inference` package: put the repository root there instead.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from monai.data import CacheDataset, DataLoader  # noqa: E402
from monai.losses import DiceCELoss  # noqa: E402
from monai.transforms import (  # noqa: E402
    Compose,
    DeleteItemsd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    SpatialPadd,
)

from bench.table import print_table  # noqa: E402
from inference import Volume, load_bundle  # noqa: E402
from inference.engine import autocast_for, cpu_name, pick_device, precision_for  # noqa: E402
from training.data import Case  # noqa: E402
from training.finetune import FinetuneConfig, PrepareCased, finetune  # noqa: E402
from training.phantoms import chest_ct  # noqa: E402
from training.sampling import CropCentresd  # noqa: E402
from training.starter import SPECS, initial_bundle  # noqa: E402

EPOCHS = 6  # on a bfloat16 CPU 3 epochs took ~9 s a side: fixed costs and noise dominated


def monai_transforms(config: FinetuneConfig) -> list:
    """The textbook MONAI pipeline for what `train_transforms` does on plain tensors."""
    return [
        SpatialPadd(keys=["image", "label"], spatial_size=config.roi_size),
        CropCentresd(per_lesion=config.per_lesion, hard_share=config.hard_share,
                     contrast=config.contrast, seed=config.seed),
        RandCropByPosNegLabeld(keys=["image", "label"], label_key="label",
                               spatial_size=config.roi_size, pos=config.pos_fraction,
                               neg=1 - config.pos_fraction, num_samples=config.num_samples,
                               fg_indices_key="label_fg", bg_indices_key="label_bg",
                               allow_smaller=True),
        DeleteItemsd(keys=["label_fg", "label_bg"]),
        RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=2),
        RandScaleIntensityd(keys="image", factors=0.05, prob=0.5),
        RandShiftIntensityd(keys="image", offsets=0.03, prob=0.5),
    ]


def _warm_up(net: torch.nn.Module, config: FinetuneConfig, dev: torch.device) -> None:
    net = net.to(dev)
    x = torch.rand(config.batch_size * config.num_samples, 1, *config.roi_size, device=dev)
    with autocast_for(dev):
        net(x).float().mean().backward()
    _sync(dev)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    epochs = ap.parse_args().epochs
    dev = pick_device(None)
    spec = SPECS["chest-ct"]
    cases = []
    for s in range(70, 78):
        ph = chest_ct(s, size=192, slices=64)
        cases.append(Case(f"c{s}", f"p{s}", Volume(ph.image.astype(np.float32), ph.spacing,
                                                    ph.origin), ph.label))
    config = FinetuneConfig(max_epochs=epochs, batch_size=2, val_fraction=0.0,
                            roi_size=(64, 64, 64), num_samples=4)
    with tempfile.TemporaryDirectory() as tmp:
        base = initial_bundle(spec, Path(tmp) / "init", 0)
        _warm_up(load_bundle(base).network, config, dev)  # first-use kernel setup counts for neither
        # Ours: includes caching, per-epoch checkpoints and the export.
        t = time.perf_counter()
        result = finetune(base, cases, config, Path(tmp) / "run")
        t_ours = time.perf_counter() - t
        iters = result.history[-1]["iteration"]

        # Bare MONAI: same cache + crops with MONAI's transforms, no checkpoints, no export.
        bundle = load_bundle(base)
        net = bundle.network.to(dev)
        scaler = torch.amp.GradScaler("cuda", enabled=dev.type == "cuda")
        t = time.perf_counter()
        ds = CacheDataset([{"case": c} for c in cases], transform=Compose(
            [PrepareCased(bundle.params), *monai_transforms(config)]), cache_rate=1.0,
            progress=False)
        loader = DataLoader(ds, batch_size=2, shuffle=True)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        bare_iters = 0
        for _ in range(epochs):
            net.train()
            for batch in loader:
                opt.zero_grad()
                with autocast_for(dev):  # the same precision as finetune
                    loss = loss_fn(net(batch["image"].to(dev)).float(), batch["label"].to(dev))
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                bare_iters += 1
        _sync(dev)
        t_bare = time.perf_counter() - t
    crops = config.batch_size * config.num_samples
    rows = [
        ("device", f"{dev.type} ({precision_for(dev)})"),
        ("cpu", cpu_name()),
        ("cases / epochs / crops per iteration", f"{len(cases)} / {epochs} / {crops}"),
        ("finetune s (cache + train + checkpoints + export)", f"{t_ours:.1f}"),
        ("bare MONAI loop s (cache + train)", f"{t_bare:.1f}"),
        ("finetune crops/s", f"{iters * crops / t_ours:.2f}"),
        ("bare crops/s", f"{bare_iters * crops / t_bare:.2f}"),
        ("throughput ratio finetune / bare", f"{(iters / t_ours) / (bare_iters / t_bare):.2f}"),
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
