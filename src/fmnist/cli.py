"""The `fmnist` command: run the series, print the results registry, check the data.

    fmnist run [--profile P] [--only STAGE ...]
    fmnist report [--profile P] [--format table|markdown|json]
    fmnist data

Errors the package raises on purpose are printed as one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from fmnist.errors import FmnistError
from fmnist.profiles import PROFILES


def _run(args) -> int:
    from fmnist import runner

    timings = runner.run(profile=args.profile, only=args.only)
    total = sum(seconds for _, seconds in timings)
    print(f"Ran {len(timings)} notebook(s) in the {args.profile} profile in {total:.0f} s.")
    return 0


def _report(args) -> int:
    from fmnist import registry

    data = registry.read(args.profile)
    if args.format == "json":
        print(json.dumps(data, indent=1))
    elif args.format == "markdown":
        print(registry.as_markdown(data), end="")
    else:
        print(registry.as_text(data), end="")
    return 0


def _data(args) -> int:
    from fmnist.data import load

    (x_train, y_train), (x_test, y_test) = load(verbose=True)
    print(f"train {x_train.shape} {y_train.shape}, test {x_test.shape} {y_test.shape}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="fmnist", description="The Fashion-MNIST notebook series.")
    sub = top.add_subparsers(dest="command", required=True)
    profiles = list(PROFILES)

    run = sub.add_parser("run", help="execute the notebooks in order (default: the full profile)")
    run.add_argument("--profile", choices=profiles, default="full")
    run.add_argument("--only", nargs="+", metavar="STAGE",
                     help="only these notebooks: 03, 03_overfit or overfit")
    run.set_defaults(func=_run)

    report = sub.add_parser("report", help="print the results registry of a profile")
    report.add_argument("--profile", choices=profiles, default="full")
    report.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    report.set_defaults(func=_report)

    data = sub.add_parser("data", help="find, verify and describe the Fashion-MNIST files")
    data.set_defaults(func=_data)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except FmnistError as exc:
        print(f"fmnist: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fmnist: interrupted; finished notebooks and results were kept.", file=sys.stderr)
        return 130
