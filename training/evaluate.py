"""Evaluate a bundle on labelled cases: voxel Dice and lesion-level detection metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inference.bundle import Bundle, load_bundle
from inference.candidates import measure_mask
from inference.engine import run_inference

from .data import Case, load_case
from .metrics import cpm, froc, instances, match_lesions, scored_dice, sensitivity_at


@dataclass
class EvalMetrics:
    dice: float | None
    sensitivity: float | None
    precision: float | None
    f1: float | None
    accuracy: float | None  # scan level: "has a lesion" predicted correctly
    fp_per_scan: float
    froc: list[tuple[float, float]]
    cpm: float
    n_cases: int
    n_lesions: int
    min_diameter_mm: float = 0.0
    # How truth lesions were sized against min_diameter_mm: "stated" (the cases' recorded
    # diameters), "mask" (long axis of the truth mask) or "mixed".
    sized_by: str = "mask"
    sensitivity_at_1fp: float | None = None
    per_case: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["froc"] = [[round(f, 4), round(s, 4)] for f, s in self.froc]
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 4)
        return d


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def evaluate(bundle: Path | str | Bundle, cases: list[Case], *, min_diameter_mm: float = 0.0,
             device: str | None = None) -> EvalMetrics:
    """Truth lesions smaller than `min_diameter_mm` are not scored: hits on them are neither
    true nor false positives, and neither they nor those hits count in the Dice. A lesion's size
    is its stated diameter (`Case.lesion_diameters`) where the case has one, else its mask's
    long axis."""
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    scored: list[tuple[float, int | None, int]] = []
    dices, per_case = [], []
    tp = fp = n_truth = correct = 0
    sized: set[str] = set()
    for scan, case in enumerate(cases):
        volume, raw = load_case(case)
        truth = instances(raw)
        result = run_inference(b, volume, device=device)
        small = set()
        stated = case.lesion_diameters or {}
        if len(stated) > 1 and raw.max() <= 1:
            stated = {}  # a binary map's components are numbered by position, not by these ids
        for t in (int(v) for v in np.unique(truth) if v):
            if t in stated:
                diameter = stated[t]
                sized.add("stated")
            else:
                diameter, _, _ = measure_mask(truth == t, volume.spacing)
                sized.add("mask")
            if diameter < min_diameter_mm:
                small.add(t)
        m = match_lesions(result.label, truth, ignore_truth=small)
        probs = {c.label: c.probability_max for c in result.candidates}
        for pid, hit in m.pred_to_truth.items():
            scored.append((probs.get(pid, 1.0), hit, scan))
        d = scored_dice(result.label, truth, m, small)
        if d is not None:
            dices.append(d)
        tp += m.true_positives
        fp += m.false_positives
        n_truth += len(m.truth_hit)
        correct += int((len(m.truth_hit) > 0) == (len(m.pred_to_truth) > 0))
        per_case.append({"case_id": case.case_id, "dice": d, "lesions": len(m.truth_hit),
                         "hits": m.true_positives, "false_positives": m.false_positives,
                         "seconds": round(result.seconds, 2)})
    n = len(cases)
    sens = _ratio(tp, n_truth)
    n_pred_scored = sum(1 for _, t, _ in scored if t is not None)
    prec = _ratio(n_pred_scored, len(scored))
    f1 = (2 * sens * prec / (sens + prec)) if sens is not None and prec and sens + prec else None
    points = froc(scored, n_truth, n)
    return EvalMetrics(
        dice=float(np.mean(dices)) if dices else None,
        sensitivity=sens,
        precision=prec,
        f1=f1,
        accuracy=_ratio(correct, n),
        fp_per_scan=fp / n if n else 0.0,
        froc=points,
        cpm=cpm(points) if n_truth else 0.0,
        n_cases=n,
        n_lesions=n_truth,
        min_diameter_mm=min_diameter_mm,
        sized_by=sized.pop() if len(sized) == 1 else ("mixed" if sized else "mask"),
        sensitivity_at_1fp=sensitivity_at(points, 1.0) if n_truth else None,
        per_case=per_case,
    )
