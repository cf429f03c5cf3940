"""The committed starter bundles and the recipes in `training.starter.SPECS` agree."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from training.finetune import FinetuneConfig
from training.second_stage import classifier_def
from training.starter import SPECS, TRAIN_SEED0

BUNDLES = Path(__file__).resolve().parents[2] / "inference" / "bundles"


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_committed_starter_was_made_by_its_documented_recipe(kind: str) -> None:
    """A spec edited without retraining (or a bundle trained off-recipe) fails here: the
    bundle's weights would no longer be what `python -m training starter --kind K` makes."""
    spec = SPECS[kind]
    meta = json.loads((BUNDLES / spec.name / "configs" / "metadata.json").read_text())
    trained = meta["training"]
    assert meta["command"].startswith(f"python -m training starter --kind {kind} ")
    assert trained["max_epochs"] == trained["epochs_run"] == spec.epochs
    if "--epochs" in meta["command"]:  # otherwise the spec's default was used
        assert f"--epochs {spec.epochs}" in meta["command"]
    snapshot = meta["data_snapshot"]
    assert len(snapshot["train"]) + len(snapshot["validation"]) == spec.n_train
    defaults = FinetuneConfig()  # what bundles trained before a setting existed used
    set_by_train_starter = {"max_epochs", "max_minutes", "val_fraction", "seed"}
    for name in (f.name for f in fields(FinetuneConfig) if f.name not in set_by_train_starter):
        got = trained.get(name, getattr(defaults, name))
        want = getattr(spec.recipe, name)
        assert (tuple(got) if isinstance(got, list) else got) == want, name
    held_out = meta["metrics"]["held_out"]
    assert held_out["min_diameter_mm"] == spec.min_diameter_mm and held_out["n_cases"] == 10


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_committed_second_stage_matches_the_recipe(kind: str) -> None:
    """A bundle's second stage was trained as its spec says, on the recipe's training phantoms
    (the held-out seeds never), and its inference.json uses the recipe's threshold."""
    spec = SPECS[kind]
    root = BUNDLES / spec.name / "configs"
    meta = json.loads((root / "metadata.json").read_text())
    config = json.loads((root / "inference.json").read_text())
    want = spec.second_stage
    if want is None:
        assert "second_stage" not in config and "second_stage" not in meta
        return
    record = meta["second_stage"]
    for name in ("iterations", "batch_size", "lr", "positive_share", "patch", "threshold"):
        assert record[name] == getattr(want, name), name
    assert tuple(record["channels"]) == want.channels
    strides = classifier_def(want.patch, want.channels, want.strides)["strides"]
    assert record["strides"] == strides
    assert config["second_stage"]["network_def"]["strides"] == strides
    assert record["seed"] == want.seed  # the run seed (0 for the committed bundle) plus the offset
    assert record["case_ids"] == sorted(f"{spec.name}-{TRAIN_SEED0 + i}" for i in
                                        range(spec.n_train))
    assert record["command"].startswith(f"python -m training starter --kind {kind} ")
    assert config["second_stage"]["threshold"] == want.threshold
    assert config["second_stage"]["patch"] == want.patch
    held_out = meta["metrics"]["held_out"]
    assert held_out["n_cases"] == 10 and held_out["min_diameter_mm"] == spec.min_diameter_mm


@pytest.mark.parametrize("kind", ["chest-ct", "brain-mr"])
def test_committed_recipe_ran_within_the_training_budget(kind: str) -> None:
    """The starter budget (<= 20 min on a 2-core CPU, all in: phantoms, network, second stage,
    held-out scoring) as `train_starter` recorded it when it made the committed bundle, with
    the CPU it ran on."""
    meta = json.loads((BUNDLES / SPECS[kind].name / "configs" / "metadata.json").read_text())
    run = meta["training"]
    assert run["device"] == "cpu" and run["threads"] <= 2 and run["cpu"]
    assert run["recipe_seconds"] <= 20 * 60
    stage = meta["second_stage"]["seconds"] if SPECS[kind].second_stage is not None else 0.0
    assert run["seconds"] + stage < run["recipe_seconds"]
    # the documented command, as README and BENCHMARKS give it
    out = f"inference/bundles/{SPECS[kind].name}"
    assert meta["command"] == f"python -m training starter --kind {kind} --out {out}"


def test_a_starter_run_reports_its_pace_every_tenth_of_the_epochs() -> None:
    from training.finetune import Progress
    from training.starter import Pace

    now = [100.0]
    pace = Pace(40, clock=lambda: now[0])
    lines = []
    for epoch in range(40):
        for it in range(3):  # three iterations an epoch, 1.5 s each, then the epoch's report
            line = pace.line(Progress(epoch * 3 + it + 1, epoch, 0.5, 1e-3, None))
            lines += [line] if line else []
            now[0] += 1.5
        line = pace.line(Progress(epoch * 3 + 3, epoch, 0.5, 1e-3, None))
        lines += [line] if line else []
    assert len(lines) == 9  # after epochs 4, 8, ..., 36 (the last tenth ends the run)
    # 4 epochs of 4.5 s, timed from the first report, extrapolated to the other 36
    assert lines[0] == "network: 4/40 epochs in 0m18s, ~2m42s left at this pace"
    assert lines[-1] == "network: 36/40 epochs in 2m42s, ~0m18s left at this pace"
