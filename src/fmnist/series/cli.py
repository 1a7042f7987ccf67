"""The `fmnist` command: run the series, print the results registry, check the data, classify images.

    fmnist run [--profile P] [--only STAGE ...]
    fmnist report [--profile P] [--format table|markdown|json] [--update-readme [PATH]] [--provenance]
    fmnist report [--profile P] --compare RERUN.json [--stage STAGE]
    fmnist data
    fmnist predict IMAGE [IMAGE ...] [--model PATH] [--top K] [--json] [--explain DIR]
    fmnist fork https://github.com/OWNER/NAME
    fmnist bench [--epochs N] [--images N]

Errors the package raises on purpose are printed as one line on stderr, exit status 1.
Ctrl-C (SIGINT) and SIGTERM print one line saying what was kept, exit status 130 and 143.
`predict` reports each unusable image that way, predicts the others, and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from fmnist.errors import FmnistError
from fmnist.learn import registry
from fmnist.learn.data import CLASS_NAMES, load
from fmnist.learn.environment import provenance_text
from fmnist.learn.native_logs import quiet_native_logs
from fmnist.learn.profiles import PROFILES
from fmnist.series import opening, reproduction, runner
from fmnist.series import readme as readme_section


def _run(args) -> int:
    timings = runner.run(profile=args.profile, only=args.only)
    total = sum(seconds for _, seconds in timings)
    where = ("executed in place" if args.profile == "full"
             else f"executed copies in runs/{args.profile}/, committed notebooks untouched")
    print(f"Ran {len(timings)} notebook(s) in the {args.profile} profile in {total:.0f} s ({where}); "
          f"results: `fmnist report --profile {args.profile}`.")
    return 0


def _report(args) -> int:
    data = registry.read(args.profile)
    if args.compare:
        rerun = reproduction.read_rerun(args.compare)
        rows = reproduction.compare(data, rerun, stage=args.stage)
        print(reproduction.as_text(rows, data, rerun, stage=args.stage), end="")
        return 1 if any(row["verdict"] == reproduction.DIFFERS for row in rows) else 0
    if args.provenance:
        print(provenance_text(data), end="")
    elif args.update_readme is not None:
        readme = args.update_readme or readme_section.default_path()  # the repository's, from any folder
        changed = readme_section.update_readme(readme, data)
        print(f"{readme}: results section {'updated' if changed else 'already up to date'} "
              f"({args.profile} profile)")
    elif args.format == "json":
        print(json.dumps(data, indent=1))
    elif args.format == "markdown":
        print(readme_section.as_markdown(data), end="")
    else:
        print(registry.as_text(data), end="")
    return 0


def _data(args) -> int:
    (x_train, y_train), (x_test, y_test) = load(verbose=True)
    print(f"train {x_train.shape} {y_train.shape}, test {x_test.shape} {y_test.shape}")
    return 0


def _predict(args) -> int:
    from fmnist.predict import classify as predict  # it imports Keras: only `fmnist predict` pays for that

    return predict.command(args.images, model=args.model, top=args.top, as_json=args.json,
                           explain=args.explain)


def _fork(args) -> int:
    changed = opening.fork(args.address)
    print(f"Pointed at {args.address}: {', '.join(changed)}." if changed else f"Already pointing at {args.address}.")
    if changed:
        print("Commit and push these files; the notebooks' Colab badges then open your fork.")
    return 0


def _bench(args) -> int:
    with quiet_native_logs():  # TensorFlow's C++ start-up lines, as in the notebooks' setup cell
        from fmnist.series import bench  # it imports Keras: only `fmnist bench` pays for that

    if args.block5:
        bench.block5()
    else:
        bench.bench(args.epochs, args.images)
    return 0


def _top_k(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= len(CLASS_NAMES):
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {len(CLASS_NAMES)}, not {text!r}")
    return k


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
    report.add_argument("--update-readme", nargs="?", const="", metavar="PATH",
                        help="write the Markdown table into the results section of PATH "
                             "(default: the repository's README.md)")
    report.add_argument("--provenance", action="store_true",
                        help="per record: git commit, CPU, GPU, OS, backend and library versions")
    report.add_argument("--compare", metavar="RERUN_JSON",
                        help="compare with a re-run's registry, record by record: which numbers it reproduced "
                             "exactly (exit status 1 if any record both hold differs)")
    report.add_argument("--stage", help="with --compare: only this stage (04, 04_regularisation or regularisation)")
    report.set_defaults(func=_report)

    data = sub.add_parser("data", help="find, verify and describe the Fashion-MNIST files")
    data.set_defaults(func=_data)

    predict = sub.add_parser("predict", help="classify image files (PNG, JPEG) with a saved model",
                             description="Classify image files with a saved model. Each image is made to "
                                         "look like Fashion-MNIST first (grayscale, light item on black, "
                                         "cropped, 28x28) and the steps taken are shown.")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, any size)")
    predict.add_argument("--model", metavar="PATH",
                         help="a saved .keras model of notebooks 01-05 (default: models/full/04_regularisation.keras)")
    predict.add_argument("--top", type=_top_k, default=3, metavar="K",
                         help="how many classes to show per image (default: 3)")
    predict.add_argument("--json", action="store_true", help="print a JSON list instead of tables")
    predict.add_argument("--explain", metavar="DIR",
                         help="write the 28x28 image each input became to DIR as PNG, and name it")
    predict.set_defaults(func=_predict)

    fork = sub.add_parser("fork", help="point every notebook's Colab badge and setup cell at a fork")
    fork.add_argument("address", help="the fork's address, https://github.com/OWNER/NAME")
    fork.set_defaults(func=_fork)
    bench = sub.add_parser("bench", help="time notebook 04's final recipe: seconds per epoch, images/s")
    bench.add_argument("--epochs", type=int, default=3, help="epochs to train (default 3; the first compiles)")
    bench.add_argument("--images", type=int, metavar="N", help="only the first N training images (default: all)")
    bench.add_argument("--block5", action="store_true",
                       help="instead, time VGG16's block 5 on the feature maps of 32, 48 and 64 px inputs")
    bench.set_defaults(func=_bench)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except FmnistError as exc:
        print(f"fmnist: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # the runner's `Interrupted` says what it kept, and carries 130 or 143
        print(f"fmnist: interrupted: {exc}" if str(exc) else
              "fmnist: interrupted; finished notebooks and results were kept.", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
