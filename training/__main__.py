"""`python -m training {phantoms,train,evaluate,starter}`."""

from __future__ import annotations

import argparse
import sys

from . import cli as training_cli
from .phantoms import cli as phantoms_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training")
    sub = parser.add_subparsers(dest="command", required=True)
    phantoms_cli.add_parser(sub)
    training_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
