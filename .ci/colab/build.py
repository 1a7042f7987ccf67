"""Build the Colab leg's virtual environment: Colab's Python and Colab's versions of what the series uses.

    python .ci/colab/build.py .venv-colab

Colab's Python (`# python:` in pip-freeze.txt's header) is looked for as `pythonX.Y` on PATH, then
among pyenv's versions; without it the default python3 is used, and one line says so. The packages
of packages.txt are installed with every `name==version` line of pip-freeze.txt as a constraint, so
they and what they pull in get Colab's versions; what Colab lacks is not installed (keras-tuner,
jupyter, nbval). The build fails if a listed package ends up at another version than Colab's, and
lists what pip added that Colab's list does not name. `make test-colab` calls it when
pip-freeze.txt or packages.txt change. Standard library only.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refresh import FREEZE, canonical, listed_packages, pins, published, python_version  # noqa: E402


def _version_of(python: str) -> str | None:
    try:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def pyenv_pythons(wanted: str) -> list[str]:
    """pyenv's interpreters of version `wanted` (X.Y), newest first."""
    roots = []
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            roots.append(done.stdout.strip())
    roots += [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    found = []
    for root in filter(None, dict.fromkeys(roots)):
        found += glob.glob(os.path.join(root, "versions", f"{wanted}.*", "bin", f"python{wanted}"))

    def key(path):
        patch = re.search(rf"versions/{re.escape(wanted)}\.(\d+)/", path)
        return int(patch.group(1)) if patch else -1

    return sorted(dict.fromkeys(found), key=key, reverse=True)


def find_python(wanted: str) -> tuple[str, str]:
    """An interpreter of Colab's Python version, and a line saying which; the default python3 if none."""
    for candidate in [shutil.which(f"python{wanted}"), *pyenv_pythons(wanted)]:
        if candidate and _version_of(candidate) == wanted:
            return candidate, f"Colab leg: Python {wanted} from {candidate}"
    fallback = shutil.which("python3") or sys.executable
    return fallback, (f"Colab leg: no Python {wanted} on this machine (neither python{wanted} on PATH nor "
                      f"in pyenv); using {fallback}, Python {_version_of(fallback)}, instead")


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


INSTALLED = """import json
from importlib import metadata
print(json.dumps({d.metadata["Name"]: d.version for d in metadata.distributions()}))"""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    venv = Path(argv[0])
    start = time.perf_counter()
    freeze = FREEZE.read_text(encoding="utf-8")
    colab = pins(published(freeze))
    wanted = listed_packages()
    absent = [name for name in wanted if canonical(name) not in colab]
    if absent:
        print(f"{FREEZE.name} pins no version of {', '.join(absent)} (packages.txt lists them).", file=sys.stderr)
        return 1
    python, said = find_python(python_version(freeze))
    print(said, flush=True)

    shutil.rmtree(venv, ignore_errors=True)
    run(python, "-m", "venv", str(venv))
    constraints = venv / "colab-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(colab.items())))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
           "-c", str(constraints)]
    run(*pip, "pip")  # Colab's pip first, then everything with it
    run(*pip, *wanted)

    installed = json.loads(subprocess.run([str(venv / "bin" / "python"), "-c", INSTALLED], check=True,
                                          capture_output=True, text=True).stdout)
    installed = {canonical(name): version for name, version in installed.items()}
    wrong = [f"{name} {installed.get(canonical(name), 'missing')} (Colab: {colab[canonical(name)]})"
             for name in wanted if installed.get(canonical(name)) != colab[canonical(name)]]
    if wrong:
        print(f"Not at Colab's version: {', '.join(wrong)}", file=sys.stderr)
        return 1
    extra = sorted(f"{name} {version}" for name, version in installed.items() if name not in colab)
    print(f"Colab leg: {len(installed) - len(extra)} of {len(installed)} distributions at Colab's versions"
          + (f", except these, which Colab's list does not name: {', '.join(extra)}" if extra else ""))
    (venv / "bin" / ".installed").write_text(f"{FREEZE.name}: {freeze.splitlines()[2][2:]}\n{said}\n")
    print(f"Colab leg: {venv} built in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
