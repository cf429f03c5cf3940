"""Reproducible starter models trained from scratch on synthetic phantoms.

    python -m training starter --kind chest-ct --out inference/bundles/chest-ct-nodules
    python -m training starter --kind brain-mr --out inference/bundles/brain-mr-lesions

Training seeds are 1000+i, held-out evaluation seeds 900000+i (never used for training).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.bundle import load_bundle, write_bundle
from inference.engine import cpu_name
from inference.errors import InferenceError
from inference.volume import Volume

from .data import Case
from .evaluate import evaluate
from .export import export_bundle
from .finetune import FinetuneConfig, Progress, finetune
from .phantoms import Phantom, brain_mr, chest_ct
from .second_stage import SecondStageConfig, attach_second_stage

# One strided conv per level keeps 3D inference on CPU fast (enough for bright MR lesions). The
# chest model must tell round nodules from tubular vessels of the same density: two residual
# convolutions per level, batch norm; bfloat16 on CPUs that have it keeps training in budget.
NETWORK = {
    "_target_": "monai.networks.nets.UNet",
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 2,
    "channels": [16, 32, 64, 128],
    "strides": [2, 2, 2],
    "num_res_units": 0,
}
CHEST_NETWORK = {**NETWORK, "num_res_units": 2, "norm": "batch"}


@dataclass(frozen=True)
class StarterSpec:
    name: str
    description: str
    params: dict[str, Any]
    make: Callable[..., Phantom]
    size: int
    length_mm: float
    min_diameter_mm: float  # lesions scored by the quality bar
    network: dict[str, Any]
    # How to train (lr, crops, batch, sampling, augmentation, compile); the epochs, time cap,
    # validation share and seed come from `train_starter`'s arguments.
    recipe: FinetuneConfig
    # Lesions per training phantom cycle through this range (the held-out phantoms keep the
    # generator's own 1-4): more positives per volume cached.
    train_lesions: tuple[int, int] | None = None
    epochs: int = 80  # the documented recipe's defaults for `python -m training starter`
    n_train: int = 24
    # A patch classifier on blob candidates, trained on the same phantoms after the network:
    # finds small nodules joined to vessels that the network calls vessel.
    second_stage: SecondStageConfig | None = None


SPECS = {
    "chest-ct": StarterSpec(
        name="chest-ct-nodules",
        description="Lung nodule segmentation on chest CT (synthetic-phantom starter model)",
        params={"modality": "CT", "target_spacing": [1.0, 1.0, 1.0],
                "intensity": {"mode": "window", "a_min": -1000.0, "a_max": 400.0},
                # 3 windows per axis cover a 400 mm chest: half the work of 96^3 at 0.25
                # overlap (a 512x512x300 CT in 3^3 windows instead of 5x6x6), same quality.
                "roi_size": [144, 144, 144], "sw_batch_size": 1, "sw_overlap": 0.1,
                "sw_mode": "gaussian", "threshold": 0.5, "min_component_mm3": 10.0,
                "denoise_sigma": 0.0},
        make=chest_ct, size=256, length_mm=150.0, min_diameter_mm=4.0,
        network=CHEST_NETWORK, train_lesions=(3, 6), epochs=400, n_train=40,
        # 16-32-64-64, 1600 iterations, seed offset 2 (chosen on eighty validation phantoms,
        # 1040-1119, eleventh session); a stride-2 first level since the twelfth: 5x cheaper
        # to train, same validation result (BENCHMARKS.md).
        second_stage=SecondStageConfig(channels=(16, 32, 64, 64), strides=(2, 2, 2, 1),
                                       iterations=1600, seed=2),
        recipe=FinetuneConfig(lr=2e-3, roi_size=(40, 40, 40), batch_size=3, hard_share=0.7,
                              val_every=200, compile=True, flip_axes=(0, 1, 2),
                              transpose_prob=0.5)),
    "brain-mr": StarterSpec(
        name="brain-mr-lesions",
        description="Hyperintense brain lesion segmentation on MR (synthetic-phantom starter)",
        params={"modality": "MR", "target_spacing": [1.0, 1.0, 1.0],
                "intensity": {"mode": "percentile", "lower": 1.0, "upper": 99.0,
                              "clip": False},
                "roi_size": [96, 96, 96], "sw_batch_size": 1, "sw_overlap": 0.25,
                "sw_mode": "gaussian", "threshold": 0.5, "min_component_mm3": 10.0,
                "denoise_sigma": 0.0},
        make=brain_mr, size=192, length_mm=150.0, min_diameter_mm=3.0,
        network=NETWORK, recipe=FinetuneConfig(lr=2e-3, batch_size=2, val_every=5)),
}
TRAIN_SEED0, EVAL_SEED0 = 1000, 900000


class Pace:
    """Every tenth of the epochs, how long the network has trained and how long it will
    still take at this pace: the time depends on the CPU class (a 2-core AVX2 VM runs the
    chest recipe 3-4x slower than one with AVX-512), so a run says so early."""

    def __init__(self, epochs: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.epochs, self.clock = epochs, clock
        self.every = max(epochs // 10, 1)
        self.t0: float | None = None
        self.epoch = -1

    def line(self, p: Progress) -> str | None:
        """Called with every progress report; a line when an epoch on the tenths has ended
        (seen as the first report of the next epoch)."""
        if self.t0 is None:
            self.t0 = self.clock()
        if p.epoch == self.epoch:
            return None
        self.epoch, done = p.epoch, p.epoch  # epochs finished before this one
        if done == 0 or done % self.every:
            return None
        elapsed = self.clock() - self.t0
        left = elapsed / done * (self.epochs - done)
        return (f"network: {done}/{self.epochs} epochs in {_mmss(elapsed)}, "
                f"~{_mmss(left)} left at this pace")


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s"


def phantom_case(ph: Phantom, case_id: str) -> Case:
    vol = Volume(array=ph.image.astype(np.float32), spacing=ph.spacing, origin=ph.origin)
    return Case(case_id=case_id, patient_id=case_id, volume=vol, label=ph.label,
                lesion_diameters={lesion.id: lesion.diameter_mm for lesion in ph.lesions})


def make_cases(spec: StarterSpec, seeds: range, *, training: bool = False) -> list[Case]:
    cases = []
    for s in seeds:
        thick_probe = spec.make(s, size=16, slices=1, n_lesions=0)  # same seed, same thickness
        slices = max(int(round(spec.length_mm / thick_probe.spacing[0])), 16)
        kw = {}
        if training and spec.train_lesions is not None:
            lo, hi = spec.train_lesions
            kw["n_lesions"] = lo + s % (hi - lo + 1)
        ph = spec.make(s, size=spec.size, slices=slices, **kw)
        cases.append(phantom_case(ph, f"{spec.name}-{s}"))
    return cases


def initial_bundle(spec: StarterSpec, out: Path, seed: int) -> Path:
    from monai.bundle import ConfigParser

    torch.manual_seed(seed)
    net = ConfigParser({"n": dict(spec.network)}).get_parsed_content("n")
    meta = {
        "name": spec.name, "version": "0.0.0", "description": spec.description,
        "task": "segmentation", "license": "Apache-2.0",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "format": "magnitude", "modality": spec.params[
                "modality"], "num_channels": 1, "spatial_shape": spec.params["roi_size"],
                "dtype": "float32", "value_range": [0, 1]}},
            "outputs": {"pred": {"type": "image", "format": "segmentation", "num_channels": 2,
                                 "spatial_shape": spec.params["roi_size"], "dtype": "float32",
                                 "channel_def": {"0": "background", "1": "lesion"}}},
        },
    }
    return write_bundle(out, metadata=meta, config={"network_def": spec.network, **spec.params},
                        state_dict=net.state_dict())


def held_out_metrics(spec: StarterSpec, bundle_dir: Path, n_eval: int) -> dict[str, Any]:
    held_out = make_cases(spec, range(EVAL_SEED0, EVAL_SEED0 + n_eval))
    metrics = evaluate(bundle_dir, held_out, min_diameter_mm=spec.min_diameter_mm)
    summary = {k: v for k, v in metrics.to_dict().items() if k != "per_case"}
    summary["eval_seeds"] = [EVAL_SEED0, EVAL_SEED0 + n_eval - 1]
    return summary


def _stage_config(stage: SecondStageConfig, run_seed: int) -> SecondStageConfig:
    """The recipe's classifier seed is an offset on the run's seed (`--seed`)."""
    return replace(stage, seed=run_seed + stage.seed)


def retrain_second_stage(kind: str, bundle_dir: Path, *, n_train: int | None = None,
                         n_eval: int = 10, seed: int = 0, command: str | None = None,
                         log: Callable[[str], None] = print) -> dict[str, Any]:
    """The recipe's second step alone: (re)train the second stage of a starter bundle on the
    phantoms its network was trained on, re-score it on the held-out phantoms, record both.

    The held-out figures of the network alone stay in metadata as `held_out_first_stage`."""
    spec = SPECS[kind]
    if spec.second_stage is None:
        raise InferenceError(f"the {kind} recipe has no second stage")
    n_train = spec.n_train if n_train is None else n_train
    before = load_bundle(bundle_dir).metadata.get("metrics", {})
    cases = make_cases(spec, range(TRAIN_SEED0, TRAIN_SEED0 + n_train), training=True)
    attach_second_stage(bundle_dir, cases, _stage_config(spec.second_stage, seed),
                        command=command, log=log)
    summary = held_out_metrics(spec, bundle_dir, n_eval)
    meta_path = Path(bundle_dir) / "configs" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    first = before.get("held_out_first_stage", before.get("held_out"))
    meta["metrics"] = {**before, "held_out": summary, "held_out_first_stage": first}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"held-out: {summary}")
    return summary


def train_starter(kind: str, out: Path, *, minutes: float | None = None,
                  epochs: int | None = None, n_train: int | None = None,
                  val_fraction: float = 0.125, n_eval: int = 10, seed: int = 0,
                  command: str | None = None,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    spec = SPECS[kind]
    epochs = spec.epochs if epochs is None else epochs
    n_train = spec.n_train if n_train is None else n_train
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"nodus-starter-{kind}-"))
    try:
        init = initial_bundle(spec, work / "init", seed)
        cases = make_cases(spec, range(TRAIN_SEED0, TRAIN_SEED0 + n_train), training=True)
        log(f"{len(cases)} training phantoms ready")
        config = replace(spec.recipe, max_epochs=epochs, max_minutes=minutes,
                         val_fraction=val_fraction, seed=seed)

        pace = Pace(epochs)

        def report(p: Progress) -> None:
            if p.val is not None:
                log(f"epoch {p.epoch} it {p.iteration} loss {p.loss:.4f} val {p.val}")
            line = pace.line(p)
            if line:
                log(line)

        result = finetune(init, cases, config, work / "run", on_progress=report,
                          parent_version=None, command=command)
        if spec.second_stage is not None:
            attach_second_stage(result.bundle_dir, cases, _stage_config(spec.second_stage, seed),
                                command=command, log=log)
        summary = held_out_metrics(spec, result.bundle_dir, n_eval)
        trained = load_bundle(result.bundle_dir)
        # The recipe's wall time all in (phantoms to held-out figures) and where it ran: the
        # starter budget is a time on a named class of machine.
        machine = {"recipe_seconds": round(time.monotonic() - t0, 1), "cpu": cpu_name(),
                   "threads": torch.get_num_threads()}
        if out.exists():
            shutil.rmtree(out)
        export_bundle(trained, trained.state_dict, out, metrics={
            "validation": result.metrics, "held_out": summary},
            train_ids=trained.metadata["data_snapshot"]["train"],
            val_ids=trained.metadata["data_snapshot"]["validation"],
            parent_version=None, command=command,
            training={**trained.metadata["training"], **machine}, version="1.0.0")
        log(f"held-out: {summary}")
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)
