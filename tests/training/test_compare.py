"""`python -m training compare`: the same model, or where two bundles differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inference.bundle import load_bundle, write_bundle
from tests.inference.conftest import make_bundle
from tests.tiny_net import TINY_NET
from training.__main__ import main
from training.compare import compare_bundles, compare_weights


def _rewrite(src: Path, dst: Path, *, state: dict[str, torch.Tensor] | None = None,
             config: dict | None = None) -> Path:
    b = load_bundle(src)
    return write_bundle(dst, metadata=b.metadata, config={**b.config, **(config or {})},
                        state_dict=state if state is not None else b.state_dict)


def test_a_bundle_made_again_by_the_same_seed_is_identical(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    a, b = make_bundle(tmp_path / "a"), make_bundle(tmp_path / "b")
    report = compare_bundles(a, b)
    assert report["identical"] and report["network"]["identical"]
    assert report["settings_differing"] == [] and report["second_stage"] is None
    assert report["network"]["tensors"] == len(load_bundle(a).state_dict) > 0
    assert main(["compare", str(a), str(b)]) == 0
    assert json.loads(capsys.readouterr().out)["identical"] is True


def test_one_changed_weight_is_named_with_its_size(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    a = make_bundle(tmp_path / "a")
    state = {k: v.clone() for k, v in load_bundle(a).state_dict.items()}
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name].view(-1)[1] += 0.25
    b = _rewrite(a, tmp_path / "b", state=state)
    report = compare_bundles(a, b)
    assert not report["identical"]
    assert report["network"]["differing"] == [name] and report["network"]["unmatched"] == []
    assert report["network"]["max_abs_diff"] == pytest.approx(0.25, abs=1e-6)
    assert main(["compare", str(a), str(b)]) == 1  # as cmp: 1 = different
    assert json.loads(capsys.readouterr().out)["network"]["differing"] == [name]


def test_same_weights_with_another_setting_differ(tmp_path: Path) -> None:
    a = make_bundle(tmp_path / "a")
    b = _rewrite(a, tmp_path / "b", config={"threshold": 0.7})
    report = compare_bundles(a, b)
    assert report["network"]["identical"] and not report["identical"]
    assert report["settings_differing"] == ["threshold"]


def test_another_architecture_leaves_tensors_unmatched(tmp_path: Path) -> None:
    a = make_bundle(tmp_path / "a")
    b = make_bundle(tmp_path / "b", network={**TINY_NET, "channels": [4, 16]})
    report = compare_bundles(a, b)
    assert not report["identical"] and "network_def" in report["settings_differing"]
    assert report["network"]["unmatched"]  # the 16-channel layers have other shapes


def test_weights_compare_by_name_shape_and_value() -> None:
    same = compare_weights({"w": torch.ones(2)}, {"w": torch.ones(2)})
    assert same.identical and same.tensors == 1
    other = compare_weights({"w": torch.ones(2), "n": torch.tensor(3)},
                            {"w": torch.ones(3), "n": torch.tensor(5), "extra": torch.zeros(1)})
    assert other.unmatched == ["extra", "w"] and other.differing == ["n"]
    assert other.max_abs_diff == 2.0 and not other.identical


def test_a_missing_bundle_is_an_error_not_a_difference(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    a = make_bundle(tmp_path / "a")
    assert main(["compare", str(a), str(tmp_path / "nope")]) == 2
    assert "BundleError" in capsys.readouterr().err


def test_second_stages_are_compared_too() -> None:
    bundles = Path(__file__).resolve().parents[2] / "inference" / "bundles"
    chest, brain = bundles / "chest-ct-nodules", bundles / "brain-mr-lesions"
    same = compare_bundles(chest, chest)
    assert same["identical"] and same["second_stage"]["identical"]
    stage = load_bundle(chest).second_stage
    assert stage is not None and same["second_stage"]["tensors"] == len(stage.state_dict)
    assert same["held_out"]["a"]["n_cases"] == 10 and "froc" not in same["held_out"]["a"]
    other = compare_bundles(chest, brain)
    assert other["second_stage"] == {"only_in": "a", "identical": False}
    assert not other["identical"] and "network_def" in other["settings_differing"]
