"""`python -m training {phantoms,train,evaluate,second-stage,starter,compare}`."""

from __future__ import annotations

import argparse
import sys

from inference.errors import InferenceError

from . import cli as training_cli
from .phantoms import cli as phantoms_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)
    phantoms_cli.add_parser(sub)
    training_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InferenceError as exc:  # a bad bundle, case or setting: a message, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
