"""Lesion matching, Dice, and FROC: pure functions on arrays with known answers in the tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

CPM_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_CONN = np.ones((3, 3, 3), dtype=bool)


def dice(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Voxel Dice of two binary masks; None when both are empty."""
    p, t = np.asarray(pred) > 0, np.asarray(truth) > 0
    denom = int(p.sum()) + int(t.sum())
    if denom == 0:
        return None
    return 2.0 * int((p & t).sum()) / denom


def instances(label: np.ndarray) -> np.ndarray:
    """Instance labels as given, or connected components when `label` is binary."""
    label = np.asarray(label)
    if label.max() <= 1:
        out, _ = ndimage.label(label > 0, structure=_CONN)
        return out
    return label


@dataclass
class Matching:
    """Result of matching predicted lesions to truth lesions in one scan."""

    pred_to_truth: dict[int, int | None] = field(default_factory=dict)  # pred id -> truth id
    truth_hit: dict[int, bool] = field(default_factory=dict)  # truth id -> detected

    @property
    def true_positives(self) -> int:
        return sum(self.truth_hit.values())

    @property
    def false_positives(self) -> int:
        return sum(1 for t in self.pred_to_truth.values() if t is None)


def match_lesions(pred_label: np.ndarray, truth_label: np.ndarray, *, iou_threshold: float = 0.1,
                  ignore_truth: set[int] | None = None) -> Matching:
    """A prediction hits a truth lesion when its centroid lies inside it or IoU >= threshold.

    Predictions that hit only `ignore_truth` lesions (e.g. below the size of interest) are
    dropped: neither true nor false positives. Labels are instance maps (binary maps are split
    into connected components).
    """
    pred, truth = instances(pred_label), instances(truth_label)
    ignore = ignore_truth or set()
    truth_ids = [int(t) for t in np.unique(truth) if t != 0]
    m = Matching(truth_hit={t: False for t in truth_ids if t not in ignore})
    truth_sizes = {t: int(n) for t, n in zip(*np.unique(truth, return_counts=True), strict=True)}
    objects = ndimage.find_objects(pred)
    for pid, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        pmask = pred[sl] == pid
        idx = np.argwhere(pmask)
        c = np.rint(idx.mean(axis=0)).astype(int) + [s.start for s in sl]
        hits = set()
        at_centroid = int(truth[c[0], c[1], c[2]])
        if at_centroid:
            hits.add(at_centroid)
        overlap_ids, counts = np.unique(truth[sl][pmask], return_counts=True)
        psize = int(pmask.sum())
        for t, inter in zip(overlap_ids, counts, strict=True):
            if t == 0:
                continue
            iou = inter / (psize + truth_sizes[int(t)] - inter)
            if iou >= iou_threshold:
                hits.add(int(t))
        counted = [t for t in hits if t not in ignore]
        if hits and not counted:
            continue  # matched only lesions we do not score
        m.pred_to_truth[pid] = min(counted) if counted else None
        for t in counted:
            m.truth_hit[t] = True
    return m


def scored_dice(pred_label: np.ndarray, truth_label: np.ndarray, matching: Matching,
                ignore_truth: set[int]) -> float | None:
    """Voxel Dice over the lesions that are scored: truth lesions in `ignore_truth`, and
    predictions that `match_lesions` dropped for hitting only those, are left out of both masks,
    just as they are left out of the lesion counts. None when nothing scored is left."""
    pred, truth = instances(pred_label), instances(truth_label)
    truth_mask = (truth > 0) & ~np.isin(truth, sorted(ignore_truth))
    kept = sorted(matching.pred_to_truth)
    return dice(np.isin(pred, kept), truth_mask)  # prediction ids start at 1


def froc(scored: list[tuple[float, int | None, int]], n_truth: int, n_scans: int
         ) -> list[tuple[float, float]]:
    """FROC points (FP per scan, sensitivity) from (score, truth id or None, scan index) rows.

    Sweeps the score threshold from high to low; a truth lesion counts once however many
    predictions hit it. Only points where sensitivity rises are kept (plus the last one): the
    others can never be the best operating point at any FP budget.
    """
    if n_scans == 0:
        return []
    points: list[tuple[float, float]] = [(0.0, 0.0)]
    found: set[tuple[int, int]] = set()
    fp = 0
    rows = sorted(scored, key=lambda r: -r[0])
    for i, (score, truth, scan) in enumerate(rows):
        if truth is None:
            fp += 1
        else:
            found.add((scan, truth))
        if i + 1 < len(rows) and rows[i + 1][0] == score:
            continue  # tied scores form a single operating point
        sens = len(found) / n_truth if n_truth else 0.0
        if sens > points[-1][1] or i + 1 == len(rows):
            points.append((fp / n_scans, sens))
    return points


def sensitivity_at(points: list[tuple[float, float]], fp_rate: float) -> float:
    """Best sensitivity reachable with at most `fp_rate` false positives per scan."""
    ok = [s for f, s in points if f <= fp_rate + 1e-12]
    return max(ok) if ok else 0.0


def cpm(points: list[tuple[float, float]]) -> float:
    """Competition performance metric: mean sensitivity at 1/8 ... 8 FP per scan."""
    return float(np.mean([sensitivity_at(points, r) for r in CPM_RATES]))
