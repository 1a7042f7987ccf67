"""Refresh .ci/colab/pip-freeze.txt from a newer snapshot of Colab's published package versions.

    python .ci/colab/refresh.py PATH_OR_URL --commit SHA --date YYYY-MM-DD [--subject TEXT] [--python X.Y]

PATH_OR_URL is a copy of `pip-freeze.txt` from the public repository googlecolab/backend-info, or
its raw address at a commit (https://raw.githubusercontent.com/googlecolab/backend-info/SHA/pip-freeze.txt).
The file is rewritten with a header naming that source, commit and date, and Colab's Python version
(`--python`, from the snapshot's os-info.txt; the current one is kept when not given). It prints
what changed for the packages the Colab leg installs (packages.txt) and refuses a file that is not a
pip freeze or lacks one of them. `make test` rebuilds .venv-colab from the new file. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
FREEZE = HERE / "pip-freeze.txt"
PACKAGES = HERE / "packages.txt"
SOURCE = "the public repository googlecolab/backend-info (https://github.com/googlecolab/backend-info), its pip-freeze.txt"
OURS = ("# Colab's runtime, as Google publishes it", "# source: ", "# commit: ", "# python: ",
        "# Refresh from a newer snapshot", "# (README: Run it in Colab)")  # the header render() writes
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``{canonical name: version}`` for every ``name==version`` line (URL and comment lines are skipped)."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def header(text: str) -> dict[str, str]:
    """The ``# key: value`` lines of this project's header (source, commit, python)."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"^# (source|commit|python): (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def python_version(text: str) -> str:
    """Colab's Python as ``X.Y``, from the header."""
    match = re.match(r"(\d+\.\d+)", header(text).get("python", ""))
    if not match:
        raise SystemExit("pip-freeze.txt: no `# python: X.Y` line in its header; refresh it with --python X.Y")
    return match.group(1)


def listed_packages(text: str | None = None) -> list[str]:
    """The packages the Colab leg installs (packages.txt), as written there."""
    text = PACKAGES.read_text(encoding="utf-8") if text is None else text
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def published(text: str) -> str:
    """The snapshot as published: this project's header (if any) removed."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(OURS):
        lines.pop(0)
    return "".join(lines)


def read(source: str) -> str:
    if re.match(r"^https?://", source):
        with urllib.request.urlopen(source, timeout=60) as response:
            return response.read().decode("utf-8")
    return Path(source).read_text(encoding="utf-8")


def render(snapshot: str, commit: str, date: str, subject: str, python: str) -> str:
    what = f"{commit} ({date}" + (f', "{subject}")' if subject else ")")
    return (f"# Colab's runtime, as Google publishes it: the Python packages of the CPU runtime (`pip freeze`).\n"
            f"# source: {SOURCE}\n"
            f"# commit: {what}\n"
            f"# python: {python}\n"
            f"# Refresh from a newer snapshot: python .ci/colab/refresh.py PATH_OR_URL --commit SHA --date YYYY-MM-DD\n"
            f"# (README: Run it in Colab). The published file follows unchanged.\n"
            + published(snapshot))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a copy of Colab's pip-freeze.txt, or its address")
    parser.add_argument("--commit", required=True, help="the commit of googlecolab/backend-info it comes from")
    parser.add_argument("--date", required=True, help="that commit's date, YYYY-MM-DD")
    parser.add_argument("--subject", default="", help="that commit's subject line")
    parser.add_argument("--python", help="Colab's Python, X.Y or X.Y.Z (os-info.txt); default: the current one")
    parser.add_argument("--output", type=Path, default=FREEZE, help=argparse.SUPPRESS)  # tests write elsewhere
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
        parser.error(f"--date {args.date}: give it as YYYY-MM-DD")

    snapshot = published(read(args.source))
    new = pins(snapshot)
    missing = [name for name in listed_packages() if canonical(name) not in new]
    if "tensorflow" not in new or "keras" not in new or missing:
        what = f"lacks {', '.join(missing or ['tensorflow or keras'])}"
        print(f"{args.source}: not usable as Colab's pip freeze ({what}); nothing written.", file=sys.stderr)
        return 1
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
    python = args.python
    if python is None:
        python = header(current).get("python") or parser.error("--python X.Y is needed (no current file to keep it from)")
    old = pins(published(current))
    args.output.write_text(render(snapshot, args.commit, args.date, args.subject, python), encoding="utf-8")

    changes = [f"  {name}: {old.get(canonical(name), 'absent')} -> {new[canonical(name)]}"
               for name in listed_packages() if old.get(canonical(name)) != new[canonical(name)]]
    print(f"Wrote {args.output.name} from {args.source} (commit {args.commit}, {args.date}; Python {python}).")
    print("Changed among the packages the Colab leg installs:" if changes else
          "No change among the packages the Colab leg installs.")
    print("\n".join(changes)) if changes else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
