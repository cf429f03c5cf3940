"""`python -m inference run|validate`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .bundle import load_bundle
from .engine import run_inference
from .errors import InferenceError
from .io import read_volume, save_label_nifti


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="segment a DICOM directory or NIfTI file")
    run.add_argument("--bundle", type=Path, required=True)
    run.add_argument("--input", type=Path, required=True)
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--series", default=None, metavar="UID",
                     help="SeriesInstanceUID to segment when the DICOM folder holds several")
    run.add_argument("--device", default=None)
    val = sub.add_parser("validate", help="check that a bundle loads")
    val.add_argument("--bundle", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        bundle = load_bundle(args.bundle)
        if args.command == "validate":
            print(json.dumps({"ok": True, "name": bundle.name, "version": bundle.version,
                              "params": bundle.params}, indent=2))
            return 0
        volume = read_volume(args.input, series_uid=args.series)
        result = run_inference(bundle, volume, device=args.device, on_progress=lambda f, s:
                               print(f"{f:6.1%} {s}", file=sys.stderr, flush=True))
    except InferenceError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    save_label_nifti(result.label, volume, args.out / "label.nii.gz")
    (args.out / "candidates.json").write_text(json.dumps(result.to_dict(), indent=2))
    print(json.dumps({"candidates": len(result.candidates), "seconds": round(result.seconds, 2),
                      "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
