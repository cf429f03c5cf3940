"""Training the second detection stage and carrying it through export and the CLI."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from inference import load_bundle, run_inference
from inference.errors import BundleError
from inference.second_stage import SecondStageParams, score_patches
from tests.inference.conftest import make_bundle
from training.__main__ import main
from training.export import export_bundle
from training.phantoms import chest_ct
from training.second_stage import (
    SHIFT,
    Examples,
    SecondStageConfig,
    attach_second_stage,
    classifier_def,
    collect_examples,
    train_classifier,
)
from training.starter import phantom_case

PATCH = 16
SMALL = SecondStageConfig(patch=PATCH, channels=(4, 8, 8), batch_size=16, iterations=20)


def _shape(kind: str, rng: np.random.Generator, side: int) -> np.ndarray:
    """A bright ball (nodule) or a bright straight tube through the cube (vessel) in dark lung,
    off-centre by up to two voxels."""
    c = side / 2 - 0.5 + rng.uniform(-2, 2, size=3)
    z, y, x = np.ogrid[:side, :side, :side]
    if kind == "ball":
        r = rng.uniform(2.0, 3.5)
        inside = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
    else:
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        p = np.stack(np.broadcast_arrays(z - c[0], y - c[1], x - c[2]), -1).astype(float)
        along = p @ d
        inside = np.linalg.norm(p - along[..., None] * d, axis=-1) <= rng.uniform(1.5, 2.5)
    img = np.full((side, side, side), 0.11, dtype=np.float32)
    img[inside] = 0.74
    return img + rng.normal(0, 0.02, img.shape).astype(np.float32)


def _examples(n: int, seed: int) -> Examples:
    rng = np.random.default_rng(seed)
    side = PATCH + 2 * SHIFT
    kinds = ["ball" if i % 2 else "tube" for i in range(n)]
    patches = np.stack([_shape(k, rng, side) for k in kinds]).astype(np.float16)
    return Examples(patches, np.array([k == "ball" for k in kinds], np.float32), n)


@pytest.mark.parametrize("strides", [None, (2, 2, 1)])
def test_the_classifier_learns_balls_from_tubes(strides: tuple[int, ...] | None) -> None:
    """Full resolution first (the default) or a stride-2 first level (the chest recipe's)."""
    config = SecondStageConfig(patch=PATCH, channels=(4, 8, 8), batch_size=16, iterations=120,
                               positive_share=0.5, strides=strides)
    net, losses = train_classifier(_examples(80, 0), config, device="cpu", log=lambda m: None)
    assert losses[-1] < losses[0]
    test = _examples(40, 1)
    centre = test.patches[:, SHIFT:SHIFT + PATCH, SHIFT:SHIFT + PATCH, SHIFT:SHIFT + PATCH]
    scores = score_patches(net, centre.astype(np.float32), torch.device("cpu"), nullcontext())
    accuracy = float(np.mean((scores >= 0.5) == (test.labels > 0)))
    assert accuracy >= 0.9, (accuracy, scores)


def _phantoms(seeds) -> list:
    return [phantom_case(chest_ct(s, size=96, slices=40, n_lesions=2, min_diameter_mm=5.0),
                         f"ph-{s}") for s in seeds]


@pytest.fixture(scope="module")
def cases() -> list:
    return _phantoms((21, 22))


def _chest_bundle(root: Path) -> Path:
    return make_bundle(root, config_extra={"target_spacing": [1.0, 1.0, 1.0],
                                           "roi_size": [48, 48, 48]})


def test_examples_are_labelled_from_the_truth(tmp_path: Path, cases) -> None:
    bundle = load_bundle(_chest_bundle(tmp_path / "b"))
    params = SecondStageParams(patch=PATCH)
    ex = collect_examples(bundle, cases, params, log=lambda m: None)
    side = PATCH + 2 * SHIFT
    assert ex.patches.shape[1:] == (side, side, side) and ex.scans == 2
    assert len(ex.labels) == len(ex.patches)
    # at least the four lesion centres are positives, and most blobs are not lesions
    assert 4 <= ex.labels.sum() < len(ex.labels) / 2
    # a positive patch is bright (lesion) at its centre, on the model's intensity scale
    mid = side // 2
    pos = ex.patches[ex.labels > 0][:, mid - 1:mid + 1, mid - 1:mid + 1, mid - 1:mid + 1]
    assert float(np.median(pos.astype(np.float32).mean(axis=(1, 2, 3)))) > 0.4


def test_attach_export_and_run(tmp_path: Path, cases) -> None:
    src = _chest_bundle(tmp_path / "b")
    record = attach_second_stage(src, cases, SMALL, out=tmp_path / "two", command="test",
                                 log=lambda m: None)
    assert record["iterations"] == 20 and record["scans"] == 2 and record["positives"] >= 4
    assert record["case_ids"] == ["ph-21", "ph-22"]
    two = load_bundle(tmp_path / "two")
    assert two.second_stage is not None and two.second_stage.params.patch == PATCH
    assert two.metadata["second_stage"]["command"] == "test"
    assert load_bundle(src).second_stage is None  # the source bundle is untouched

    # A fine-tune's export keeps the second stage as it was.
    state = {k: v + 0 for k, v in two.state_dict.items()}
    export_bundle(two, state, tmp_path / "ft", metrics={}, train_ids=[], val_ids=[],
                  parent_version=two.version, command=None)
    ft = load_bundle(tmp_path / "ft")
    assert ft.second_stage is not None
    for k, v in two.second_stage.state_dict.items():
        assert torch.equal(ft.second_stage.state_dict[k], v)

    result = run_inference(ft, cases[0].volume, device="cpu")
    assert "second_stage" in result.timings


def test_classifier_strides_reach_the_bundle(tmp_path: Path, cases) -> None:
    src = _chest_bundle(tmp_path / "b")
    config = replace(SMALL, strides=(2, 2, 1), iterations=5)
    record = attach_second_stage(src, cases, config, out=tmp_path / "two", log=lambda m: None)
    assert record["strides"] == [2, 2, 1]
    saved = json.loads((tmp_path / "two" / "configs" / "inference.json").read_text())
    assert saved["second_stage"]["network_def"]["strides"] == [2, 2, 1]
    two = load_bundle(tmp_path / "two")
    assert two.second_stage is not None
    first = next(m for m in two.second_stage.network.modules()
                 if isinstance(m, torch.nn.Conv3d))
    assert first.stride == (2, 2, 2)
    # the default keeps the first level at full resolution
    assert classifier_def(PATCH, (4, 8, 8))["strides"] == [1, 2, 2]
    with pytest.raises(BundleError, match="3 channel levels but 2 strides"):
        classifier_def(PATCH, (4, 8, 8), (2, 2))
    with pytest.raises(BundleError, match="3 channel levels but 2 strides"):  # before any work
        attach_second_stage(src, cases, replace(config, strides=(2, 2)), out=tmp_path / "bad",
                            log=lambda m: pytest.fail(f"examples collected: {m}"))
    assert not (tmp_path / "bad").exists()


def test_cli_trains_and_reports_bad_input(tmp_path: Path, cases, capsys) -> None:
    data = tmp_path / "data"
    assert main(["phantoms", "--kind", "chest-ct", "--n", "1", "--seed", "23", "--size", "96",
                 "--slices", "40", "--no-dicom", "--out", str(data)]) == 0
    capsys.readouterr()
    src = _chest_bundle(tmp_path / "b")
    assert main(["second-stage", "--bundle", str(src), "--data", str(data),
                 "--iterations", "5", "--out", str(tmp_path / "o")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["iterations"] == 5 and record["scans"] == 1
    assert load_bundle(tmp_path / "o").second_stage is not None

    assert main(["second-stage", "--bundle", str(tmp_path / "nope"), "--data", str(data)]) == 2
    assert "bundle not found" in capsys.readouterr().err
    assert main(["second-stage", "--bundle", str(src), "--data", str(data),
                 "--threshold", "0.2"]) == 2


def test_starter_recipe_trains_both_stages_and_can_redo_the_second(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """`train_starter` with a second stage in the spec (shrunk to seconds), then
    `--second-stage-only` on its output: the network stays, the stage and metrics are redone."""
    from dataclasses import replace

    from training import starter

    tiny = replace(starter.SPECS["chest-ct"], name="tiny-chest", size=96, length_mm=40.0,
                   network={**starter.CHEST_NETWORK, "channels": [4, 8], "strides": [2],
                            "num_res_units": 0},
                   params={**starter.SPECS["chest-ct"].params, "roi_size": [48, 48, 48]},
                   recipe=replace(starter.SPECS["chest-ct"].recipe, compile=False,
                                  roi_size=(24, 24, 24), val_every=1),
                   second_stage=SMALL)
    monkeypatch.setitem(starter.SPECS, "tiny", tiny)
    out = tmp_path / "starter"
    starter.train_starter("tiny", out, epochs=1, n_train=2, val_fraction=0.5, n_eval=1,
                          command="python -m training starter --kind tiny", log=lambda m: None)
    first = load_bundle(out)
    assert first.second_stage is not None
    assert first.metadata["second_stage"]["case_ids"] == ["tiny-chest-1000", "tiny-chest-1001"]
    assert first.metadata["metrics"]["held_out"]["n_cases"] == 1
    run = first.metadata["training"]  # the all-in wall time, beside the network's own
    assert 0 < run["seconds"] < run["recipe_seconds"] and run["cpu"] and run["threads"] >= 1

    starter.retrain_second_stage("tiny", out, n_train=2, n_eval=1, seed=1, command="again",
                                 log=lambda m: None)
    second = load_bundle(out)
    for k, v in first.state_dict.items():  # the network is untouched
        assert torch.equal(second.state_dict[k], v)
    assert second.metadata["second_stage"]["command"] == "again"
    assert second.metadata["second_stage"]["seed"] == 1
    assert "held_out_first_stage" in second.metadata["metrics"]
    assert any(not torch.equal(second.second_stage.state_dict[k], v)
               for k, v in first.second_stage.state_dict.items())
