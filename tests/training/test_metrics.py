"""Lesion matching, Dice and FROC on hand-built arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import cpm, dice, froc, match_lesions, scored_dice, sensitivity_at


def _cube(a: np.ndarray, z: int, y: int, x: int, r: int, value: int) -> None:
    a[z - r:z + r + 1, y - r:y + r + 1, x - r:x + r + 1] = value


def test_dice_known_values() -> None:
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[0, 0, :2] = True
    b[0, 0, 1:3] = True
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(np.zeros(3), np.zeros(3)) is None


def test_match_by_centroid_iou_and_false_positive() -> None:
    truth = np.zeros((20, 40, 40), np.uint8)
    _cube(truth, 5, 5, 5, 2, 1)  # lesion 1: hit by a shifted prediction (centroid inside)
    _cube(truth, 10, 20, 20, 4, 2)  # lesion 2: hit by a large prediction with IoU >= 0.1
    _cube(truth, 15, 35, 35, 1, 3)  # lesion 3: missed
    pred = np.zeros_like(truth)
    _cube(pred, 6, 6, 6, 2, 1)
    pred[2:19, 12:29, 12:29] = 2  # centroid (10, 20, 20) inside lesion 2 as well
    _cube(pred, 3, 35, 5, 1, 3)  # nowhere near a lesion
    m = match_lesions(pred, truth)
    assert m.pred_to_truth == {1: 1, 2: 2, 3: None}
    assert m.truth_hit == {1: True, 2: True, 3: False}
    assert (m.true_positives, m.false_positives) == (2, 1)


def test_match_iou_only_and_ignored_small_lesion() -> None:
    truth = np.zeros((10, 30, 30), np.uint8)
    truth[2:8, 2:8, 2:8] = 1  # 216 voxels
    truth[5, 20, 20] = 2  # tiny lesion we do not score
    pred = np.zeros_like(truth)
    pred[2:8, 2:8, 7:12] = 1  # overlaps x=7 only: 36 / (216 + 180 - 36) = 0.1, centroid outside
    pred[5, 20, 20] = 2
    m = match_lesions(pred, truth, ignore_truth={2})
    assert m.pred_to_truth == {1: 1}  # the hit on the ignored lesion is neither TP nor FP
    assert m.truth_hit == {1: True}
    pred[2:8, 2:8, 7] = 0  # no overlap left, centroid still outside
    assert match_lesions(pred, truth, ignore_truth={2}).pred_to_truth == {1: None}


def test_scored_dice_leaves_out_ignored_lesions_and_their_hits() -> None:
    truth = np.zeros((10, 30, 30), np.uint8)
    truth[2:6, 2:6, 2:6] = 1  # 64 voxels, scored
    truth[5, 20:22, 20] = 2  # small lesion, not scored
    pred = np.zeros_like(truth)
    pred[2:6, 2:6, 2:4] = 1  # half of lesion 1: 32 voxels
    pred[4:7, 19:23, 19:22] = 2  # 36 voxels over the small lesion only
    pred[8, 28, 28] = 3  # a 1-voxel false positive
    m = match_lesions(pred, truth, ignore_truth={2})
    # scored: pred 1 (32) + pred 3 (1) vs truth 1 (64), 32 shared
    assert scored_dice(pred, truth, m, {2}) == pytest.approx(2 * 32 / (33 + 64))
    assert dice(pred > 0, truth > 0) == pytest.approx(2 * 34 / (69 + 66))  # the unscored view
    only_small = np.where(truth == 2, 2, 0).astype(np.uint8)
    m2 = match_lesions(only_small, only_small, ignore_truth={2})
    assert scored_dice(only_small, only_small, m2, {2}) is None


def test_binary_prediction_is_split_into_components() -> None:
    truth = np.zeros((10, 10, 10), np.uint8)
    truth[1:3, 1:3, 1:3] = 1
    pred = np.zeros_like(truth)
    pred[1:3, 1:3, 1:3] = 1
    pred[7:9, 7:9, 7:9] = 1
    m = match_lesions(pred, truth)
    assert m.true_positives == 1 and m.false_positives == 1


def test_froc_and_cpm_known_answer() -> None:
    # 2 scans, 4 lesions. Scores: TP .9 (s0 l1), FP .8, TP .7 (s1 l1), TP .6 duplicate hit on
    # s1 l1, FP .5, FP .4, TP .3 (s0 l2).
    rows = [(0.9, 1, 0), (0.8, None, 0), (0.7, 1, 1), (0.6, 1, 1), (0.5, None, 1),
            (0.4, None, 0), (0.3, 2, 0)]
    pts = froc(rows, n_truth=4, n_scans=2)
    assert pts[0] == (0.0, 0.0)
    assert (0.0, 0.25) in pts and (0.5, 0.5) in pts and (1.5, 0.75) in pts
    assert sensitivity_at(pts, 0.125) == 0.25
    assert sensitivity_at(pts, 1.0) == 0.5
    assert sensitivity_at(pts, 2.0) == 0.75
    # rates 1/8, 1/4, 1/2, 1, 2, 4, 8 -> .25 .25 .5 .5 .75 .75 .75
    assert cpm(pts) == pytest.approx((0.25 * 2 + 0.5 * 2 + 0.75 * 3) / 7)
