"""Pre-annotation of a 512x512x300 phantom chest CT with the starter model, side by side with a
bare MONAI sliding_window_inference of the same network on the same preprocessed tensor (and,
for a two-stage bundle, bare forward passes of its patch classifier on the same patches).

    .venv/bin/python bench/inference.py [--bundle inference/bundles/chest-ct-nodules] [--repeat N]

Prints one table; peak RSS is the whole process (phantom + DICOM + inference).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ comes first on sys.path and bench/inference.py would shadow the
# `inference` package: put the repository root there instead.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import copy  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from monai.inferers import sliding_window_inference  # noqa: E402

from bench.table import print_table  # noqa: E402
from inference import load_bundle, read_dicom_dir, run_inference  # noqa: E402
from inference.blobs import find_blobs  # noqa: E402
from inference.engine import (  # noqa: E402
    autocast_for,
    cpu_name,
    fast_layout,
    pick_device,
    precision_for,
)
from inference.second_stage import patches_at  # noqa: E402
from inference.transforms import prepare  # noqa: E402
from training.phantoms import chest_ct, write_dicom_series  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=ROOT / "inference/bundles/chest-ct-nodules")
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved runs; best of each kept")
    ap.add_argument("--sw-batch-size", type=int, default=None, help="override the bundle's, both sides")
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    if args.sw_batch_size:
        bundle.params["sw_batch_size"] = args.sw_batch_size
    ph = chest_ct(args.seed, size=512, slices=300)
    with tempfile.TemporaryDirectory() as tmp:
        write_dicom_series(ph, Path(tmp), patient_id="BENCH", patient_name="Bench")
        t = time.perf_counter()
        volume = read_dicom_dir(Path(tmp))
        t_read = time.perf_counter() - t
    dev = pick_device(None)
    # Bare MONAI: the same network and window settings on the same preprocessed tensor.
    image = prepare(volume, bundle.params).image
    p = bundle.params
    # Two bare sides: the network as MONAI builds it (default memory layout), and the very module
    # run_inference uses (channels-last 3D weights on the CPU): the first is what a plain MONAI
    # call costs, the second isolates the pipeline's own overhead.
    net = fast_layout(bundle.network.to(dev).eval(), dev)
    plain = copy.deepcopy(net).to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]

    def bare(model: torch.nn.Module) -> float:
        t = time.perf_counter()
        with torch.inference_mode(), autocast_for(dev):  # the same precision as run_inference
            sliding_window_inference(image[None].to(dev), tuple(p["roi_size"]),
                                     p["sw_batch_size"], model, overlap=p["sw_overlap"],
                                     mode=p["sw_mode"])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    # A second stage is a second network: its bare side is the classifier's forward passes
    # (the patch and its mirror, as the stage defines its score) on the patches of every blob
    # proposed in this image. The pipeline scores only those the first network left below its
    # threshold, so this bare side does at least the pipeline's classifier work.
    stage = bundle.second_stage
    patches = None
    if stage is not None:
        blobs = find_blobs(image[0].numpy(), stage.params.blobs)
        patches = torch.from_numpy(patches_at(image[0].numpy(), blobs.points, stage.params.patch))
        stage_net = stage.network.to(dev).eval()

    def bare_second() -> float:
        if patches is None:
            return 0.0
        t = time.perf_counter()
        with torch.inference_mode(), autocast_for(dev):
            for start in range(0, len(patches), 16):  # the pipeline's batch size
                x = patches[start:start + 16, None].to(dev)
                (stage_net(x) + stage_net(x.flip(2, 3, 4))).float().cpu()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    # Interleave the runs so that load from other processes hits all alike; keep the best.
    runs, bares, plains, seconds = [], [], [], []
    for _ in range(args.repeat):
        runs.append(run_inference(bundle, volume))
        bares.append(bare(net))
        plains.append(bare(plain))
        seconds.append(bare_second())
    result = min(runs, key=lambda r: r.seconds)
    t_bare, t_plain, t_second = min(bares), min(plains), min(seconds)
    no_stage = result.seconds - result.timings.get("second_stage", 0.0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("device", f"{dev.type} ({torch.get_num_threads()} threads, "
                   f"{precision_for(dev)})"),
        ("cpu", cpu_name()),
        ("load average at end (1 min)", f"{os.getloadavg()[0]:.1f}"),
        ("runs (interleaved, best kept)", f"{args.repeat}"),
        ("windows per batch", f"{p['sw_batch_size']}"),
        ("input", f"{volume.shape} spacing {tuple(round(s, 3) for s in volume.spacing)}"),
        ("model grid", f"{tuple(image.shape[1:])}"),
        ("read DICOM (300 files) s", f"{t_read:.2f}"),
        *[(f"  run_inference: {k} s", f"{v:.2f}") for k, v in result.timings.items()],
        ("run_inference end to end s", f"{result.seconds:.2f}"),
        ("bare MONAI sliding_window_inference s (network as MONAI builds it)", f"{t_plain:.2f}"),
        ("bare MONAI sliding_window_inference s (the pipeline's weight layout)", f"{t_bare:.2f}"),
        ("bare second-stage classifier s" + (f" ({len(patches)} patches x2)"
                                             if patches is not None else " (no second stage)"),
         f"{t_second:.2f}"),
        ("ratio end-to-end / bare, both networks, as MONAI builds them",
         f"{result.seconds / (t_plain + t_second):.2f}"),
        ("ratio end-to-end / bare, both networks, same weight layout",
         f"{result.seconds / (t_bare + t_second):.2f}"),
        ("ratio without the second stage / bare segmentation, same layout",
         f"{no_stage / t_bare:.2f}"),
        ("read + run_inference s", f"{t_read + result.seconds:.2f}"),
        ("candidates", f"{len(result.candidates)} (truth lesions {len(ph.lesions)})"),
        ("peak RSS MB", f"{rss_mb:.0f}"),
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
