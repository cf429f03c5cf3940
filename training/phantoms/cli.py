"""`python -m training phantoms ...`: write N cases, each `dicom/`, `label.nii.gz`, `lesions.json`."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import brain_mr, chest_ct, write_dicom_series, write_truth


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("phantoms", help="write synthetic studies with truth")
    p.add_argument("--kind", choices=["chest-ct", "brain-mr"], required=True)
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="case i uses seed + i")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=None, help="in-plane matrix (default 512 / 256)")
    p.add_argument("--slices", type=int, default=None)
    p.add_argument("--no-dicom", action="store_true", help="write image.nii.gz instead of dicom/")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .truth import save_nifti

    for i in range(args.n):
        seed = args.seed + i
        if args.kind == "chest-ct":
            ph = chest_ct(seed, size=args.size or 512, slices=args.slices)
        else:
            ph = brain_mr(seed, size=args.size or 256, slices=args.slices)
        case = Path(args.out) / f"{args.kind}-{seed:05d}"
        if args.no_dicom:
            case.mkdir(parents=True, exist_ok=True)
            save_nifti(ph.image, ph.spacing, ph.origin, case / "image.nii.gz")
        else:
            write_dicom_series(ph, case / "dicom", patient_id=f"PH{seed:05d}",
                               patient_name=f"Phantom^{args.kind}^{seed}")
        write_truth(ph, case)
        print(f"{case}: {len(ph.lesions)} lesions")
    return 0
