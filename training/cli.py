"""`python -m training train|evaluate|second-stage|starter|compare`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="fine-tune a bundle on a folder of labelled cases")
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="run dir; the bundle is OUT/bundle")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="metrics of a bundle on a folder of labelled cases")
    e.add_argument("--bundle", type=Path, required=True)
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--min-diameter", type=float, default=0.0)
    e.set_defaults(func=_evaluate)

    t = sub.add_parser("second-stage", help="train a bundle's second detection stage (a patch "
                       "classifier on blob candidates) on a folder of labelled cases")
    t.add_argument("--bundle", type=Path, required=True)
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--out", type=Path, default=None, help="bundle folder (default: in place)")
    t.add_argument("--iterations", type=int, default=800)
    t.add_argument("--threshold", type=float, default=0.9)
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_second_stage)

    s = sub.add_parser("starter", help="train a starter model from scratch on phantoms")
    s.add_argument("--kind", choices=["chest-ct", "brain-mr"], required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--minutes", type=float, default=None, help="wall-clock cap (safety net)")
    s.add_argument("--epochs", type=int, default=None,
                   help="fixed count, reproducible (default: the kind's documented recipe)")
    s.add_argument("--n-train", type=int, default=None,
                   help="training phantoms (default: the kind's documented recipe)")
    s.add_argument("--n-eval", type=int, default=10)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--second-stage-only", action="store_true",
                   help="keep the network of the starter bundle at OUT, (re)train only the "
                        "recipe's second stage on the same phantoms and re-score it")
    s.set_defaults(func=_starter)

    c = sub.add_parser("compare", help="whether two bundles hold the same model (exit 0) or "
                       "differ (exit 1), and where: settings, weights, held-out figures")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.set_defaults(func=_compare)


def _command() -> str:
    return "python -m training " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _train(args: argparse.Namespace) -> int:
    from .data import cases_from_dir
    from .finetune import FinetuneConfig, Progress, finetune

    def report(p: Progress) -> None:
        if p.val is not None or p.iteration % 10 == 0:
            print(json.dumps({"epoch": p.epoch, "iteration": p.iteration,
                              "loss": round(p.loss, 5), "lr": p.lr, "val": p.val}), flush=True)

    result = finetune(args.base, cases_from_dir(args.data),
                      FinetuneConfig(max_epochs=args.epochs, max_minutes=args.minutes,
                                     lr=args.lr, seed=args.seed),
                      args.out, on_progress=report, command=_command())
    print(json.dumps({"bundle": str(result.bundle_dir), "epochs": result.epochs,
                      "metrics": result.metrics}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .data import cases_from_dir
    from .evaluate import evaluate

    metrics = evaluate(args.bundle, cases_from_dir(args.data), min_diameter_mm=args.min_diameter)
    print(json.dumps(metrics.to_dict(), indent=2))
    return 0


def _second_stage(args: argparse.Namespace) -> int:
    from .data import cases_from_dir
    from .second_stage import SecondStageConfig, attach_second_stage

    if args.iterations < 1 or not 0.5 <= args.threshold < 1:
        print("error: --iterations must be >= 1 and --threshold in [0.5, 1)", file=sys.stderr)
        return 2
    record = attach_second_stage(
        args.bundle, cases_from_dir(args.data),
        SecondStageConfig(iterations=args.iterations, threshold=args.threshold, seed=args.seed),
        out=args.out, command=_command(), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(record))
    return 0


def _starter(args: argparse.Namespace) -> int:
    from .starter import retrain_second_stage, train_starter

    if args.second_stage_only:
        retrain_second_stage(args.kind, args.out, n_train=args.n_train, n_eval=args.n_eval,
                             seed=args.seed, command=_command(),
                             log=lambda m: print(m, flush=True))
        return 0
    train_starter(args.kind, args.out, minutes=args.minutes, epochs=args.epochs, n_train=args.n_train,
                  n_eval=args.n_eval, seed=args.seed, command=_command(),
                  log=lambda m: print(m, flush=True))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare_bundles

    report = compare_bundles(args.a, args.b)
    print(json.dumps(report, indent=2))
    return 0 if report["identical"] else 1
