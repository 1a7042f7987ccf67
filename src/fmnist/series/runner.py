"""Run the notebook series: in order, with a progress bar, recording each notebook's wall time.

In the ``full`` profile notebooks are executed in place, since their stored outputs are what
readers see; other profiles write the executed copies to ``runs/<profile>/``, so a smoke run
never overwrites full results. Every write is atomic. A failing cell stops the run with the
notebook, the cell and the error, and the partly executed notebook is kept for inspection.

Before it starts, a run prints its plan: the notebooks, what each took last time on this kind
of machine (from the profile's runs table) and, in ``full``, that it rewrites committed files.
A failed run is recorded in ``runs/<profile>/failed-runs.json`` (git-ignored), never in the
committed ``results/full.json``. After a ``full`` run, finished or not, README's results
section is regenerated from ``results/full.json``, so the README test stays green.
Ctrl-C (SIGINT) and SIGTERM stop the kernel, keep the partly executed copy as
``runs/<profile>/<stem>.interrupted.ipynb`` and raise `Interrupted`; the next run says it found it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets.config import Config
from traitlets import default

from fmnist import paths
from fmnist.errors import FmnistError, NotebookError
from fmnist.learn import registry
from fmnist.learn.environment import code_version, cpu as cpu_model
from fmnist.learn.profiles import get_profile
from fmnist.series import readme

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as shells report it


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM: `str()` is the line to print, `exit_code` the status.

    A KeyboardInterrupt, so that code which handles Ctrl-C handles SIGTERM the same way.
    """

    def __init__(self, message: str = "", signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum, self.exit_code = signum, EXIT_CODES.get(signum, 130)
        self.notebook = None


def _raise_interrupted(signum, frame):
    raise Interrupted(signum=signum)


def interrupted_copy(path: Path, profile: str) -> Path:
    """Where the partly executed copy of an interrupted notebook is kept."""
    return paths.runs_dir(profile) / f"{path.stem}.interrupted.ipynb"


def _shown(path: Path) -> str:
    """`path` relative to the repository root where it lies inside it: short enough for one line."""
    try:
        return str(path.relative_to(paths.repo_root()))
    except ValueError:
        return str(path)

NOTEBOOK_NAME = re.compile(r"^(\d\d)_([a-z0-9_]+)\.ipynb$")


def notebooks(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks of the series, in order."""
    folder = folder or paths.repo_root() / "notebooks"
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))


def select(available: list[Path], only: list[str] | None) -> list[Path]:
    """The notebooks named by `only` (``03``, ``03_overfit`` or ``overfit``), in series order."""
    if not only:
        return available
    chosen = []
    for wanted in only:
        key = wanted.removesuffix(".ipynb")
        hits = [p for p in available if key in registry.stage_names(p.stem)]
        if not hits:
            names = ", ".join(p.stem for p in available) or "none"
            raise FmnistError(f"No notebook matches {wanted!r}. Available: {names}.")
        chosen += [p for p in hits if p not in chosen]
    return [p for p in available if p in chosen]


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()[:80]
    return source.strip()[:80]


# What a kernel the runner starts inherits besides the profile: no "frozen modules ... PYDEVD" lines from
# its debugger (ipykernel's debugpy on Python 3.11+), which a notebook that starts one (prerequisites,
# on Colab) would show and store in its own cell.
KERNEL_ENVIRONMENT = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}


class _ThisPython(KernelSpecManager):
    """The kernel spec `python3` as plain IPython in this very Python (``sys.executable``).

    Not whatever kernel spec is called ``python3`` where the runner runs: Colab's starts its own
    launcher, which imports ``google.colab``, so a notebook run from Colab would take itself for one
    opened there and fetch the repository again inside ``notebooks/``. Elsewhere the native
    ``python3`` kernel is this one anyway.
    """

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          display_name="Python 3 (ipykernel)", language="python", resource_dir="")


class _KernelManager(AsyncKernelManager):
    """nbclient's kernel manager, with the kernel of `_ThisPython`."""

    @default("kernel_spec_manager")
    def _this_python(self):
        return _ThisPython()


def _kernel_config() -> Config:
    """How the runner talks to a notebook's kernel: over local sockets where the system has them.

    Both ends are on this machine. Over TCP, ipykernel 7 prints "Kernel is running over TCP without
    encryption" once per notebook on the runner's stderr; a Unix socket (IPC) never leaves the machine
    and its file is the user's own, so there is nothing to warn about. Windows keeps TCP.
    """
    config = Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
        # Absolute and new for each kernel: the default, "kernel-ipc", is relative to each end's working
        # folder, and the kernel works in the notebook's. Short, too: a socket's path has about 100 bytes.
        config.KernelManager.ip = str(Path(tempfile.gettempdir()) / f"fmnist-kernel-{uuid.uuid4().hex[:12]}")
    return config


def execute(path: Path, profile: str, progress=None, timeout: int | None = None):
    """Execute one notebook with the profile set; return the executed notebook.

    Raises `NotebookError` naming the notebook, the cell and the error if a cell fails;
    the partly executed notebook is attached as ``error.notebook``.
    """
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    previous = {name: os.environ.get(name) for name in ("FMNIST_PROFILE", *KERNEL_ENVIRONMENT)}
    os.environ.update(KERNEL_ENVIRONMENT, FMNIST_PROFILE=profile)  # the kernel inherits the environment
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=_KernelManager,
                            resources={"metadata": {"path": str(path.parent)}}, config=_kernel_config())
    if progress is not None:
        # Show which cell is running: a training cell can take many minutes.
        client.on_cell_execute = lambda cell, cell_index: progress.set_postfix_str(
            f"running `{_first_line(cell.source)[:40]}`")
        client.on_cell_executed = lambda cell, cell_index, execute_reply: progress.update(
            1 if cell.cell_type == "code" else 0)
    try:
        _execute_stoppably(client)
    except Interrupted as exc:
        running = next((i for i, c in enumerate(code_cells, 1) if c is getattr(exc, "cell", None)), None)
        where = f" in code cell {running} of {len(code_cells)}" if running else ""
        err = Interrupted(f"{signal.Signals(exc.signum).name} stopped {path.name}{where}", exc.signum)
        err.notebook = nb
        raise err from None
    except CellExecutionError as exc:
        failed = next((i for i, c in enumerate(code_cells, 1)
                       if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        cell = code_cells[failed - 1] if failed else None
        error = next((o for o in (cell.outputs if cell else []) if o.get("output_type") == "error"), {})
        where = f"code cell {failed} of {len(code_cells)} (`{_first_line(cell.source)}`)" if cell else "a cell"
        err = NotebookError(
            f"{path.name} failed in {where}: {error.get('ename', 'Error')}: {error.get('evalue', str(exc)[:300])}"
        )
        err.notebook = nb
        raise err from None
    except (DeadKernelError, CellTimeoutError) as exc:
        running = sum(1 for c in code_cells if c.get("execution_count") is not None)
        err = NotebookError(
            f"{path.name}: the kernel stopped near code cell {running} of {len(code_cells)} "
            f"({type(exc).__name__}; out of memory, or a cell ran past the time limit). "
            f"Try a smaller profile (--profile smoke) to check the code, or free memory."
        )
        err.notebook = nb
        raise err from None
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return nb


class _SignalLoop(asyncio.SelectorEventLoop):
    """An event loop that hands SIGINT and SIGTERM to `on_signal`, whoever asks it to handle them.

    nbclient asks it to while a notebook runs: its own handlers shut the kernel down behind its back,
    and its clean-up then fails with `AssertionError: self.km is not None`, which hides the interrupt.
    """

    def __init__(self, on_signal):
        super().__init__()
        self._on_signal = on_signal

    def add_signal_handler(self, sig, callback, *args):
        if sig in EXIT_CODES:
            callback, args = self._on_signal, (sig,)
        super().add_signal_handler(sig, callback, *args)


class _Stop(Exception):
    """Raised before the next cell once a signal has arrived (one may come before the kernel is up)."""


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _execute_stoppably(client) -> None:
    """`client.execute()`, except that SIGINT or SIGTERM kills the kernel and raises `Interrupted`
    (with ``cell``, the code cell that was running or due, or None)."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread() or _loop_running():
        # No signal handlers to install there; inside a running event loop (a notebook running the
        # notebooks it builds on) nbclient's own execute nests in that loop, where ours cannot run.
        client.execute()
        return
    received, current = [], [None]

    def on_signal(signum):
        received.append(signum)
        client.shutdown_kernel = "immediate"  # a graceful shutdown waits for the running cell
        _kill_kernel(client)

    def before_cell(cell, cell_index):
        if received:
            raise _Stop()
        if cell.cell_type == "code":
            current[0] = cell

    client.on_cell_start = before_cell
    handlers = {sig: signal.getsignal(sig) for sig in EXIT_CODES}
    loop = _SignalLoop(on_signal)
    try:
        loop.run_until_complete(client.async_execute())
    except (Exception, KeyboardInterrupt) as exc:
        # After a signal, whatever nbclient raises (DeadKernelError, most often) is the interrupt.
        if not received and not isinstance(exc, KeyboardInterrupt):
            raise
        _kill_kernel(client)
        err = Interrupted(signum=received[0] if received else getattr(exc, "signum", signal.SIGINT))
        err.cell = current[0]
        raise err from None
    finally:
        _close(loop)
        for sig, handler in handlers.items():  # asyncio leaves the defaults behind, not what it found
            if handler is not None:
                signal.signal(sig, handler)


def _kill_kernel(client) -> None:
    """Kill the notebook's kernel if it runs (it runs in a session of its own: no signal reached it)."""
    provisioner = getattr(getattr(client, "km", None), "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is not None and process.poll() is None:
        process.kill()


def _close(loop) -> None:
    """Close the loop, ending the tasks an interrupt left behind rather than letting them be logged."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def where_it_ran(nb) -> tuple[str | None, str | None]:
    """Backend and device as the notebook's setup cell printed them ("Backend: X on Y")."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            match = re.search(r"^Backend: (\S+) on (.+)$", out.get("text", ""), re.MULTILINE)
            if match:
                return match.group(1), match.group(2).strip()
    return None, None


def record_run(stem: str, seconds: float, status: str, profile: str, nb, commit: str | None,
               path: Path | None = None) -> dict:
    """Record a notebook's run in the profile's runs table (or in `path`): its wall time, the backend and
    device its setup cell printed, this machine's CPU model and the commit it ran from.

    `fmnist run` records every notebook it runs; `make test` records those its nbval leg executes
    (tests/conftest.py), so that the next run's plan knows how long each took on this machine.
    """
    return registry.record_run(stem, seconds, status, profile, *where_it_ran(nb), path=path, commit=commit,
                               cpu=cpu_model())


def code_commit() -> str | None:
    """The short commit the notebooks run from, "+modified" if code differs from it; None without git."""
    found = code_version()
    if found["commit"] in (None, "unknown"):
        return None
    return found["commit"][:10] + ("+modified" if found["dirty"] else "")


def output_path(path: Path, profile: str) -> Path:
    """Where the executed notebook goes: in place for ``full``, ``runs/<profile>/`` otherwise."""
    return path if profile == "full" else paths.runs_dir(profile) / path.name


def this_machine() -> str:
    """This machine as the runs table names devices: 'CPU (<n> cores)' unless a GPU is visible.

    Read without importing a deep-learning library (the plan must print at once): an NVIDIA GPU
    shows up as /proc/driver/nvidia/gpus; the name recorded by the notebooks is then unknown here.
    """
    if Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir()):
        return "GPU"
    return f"CPU ({os.cpu_count()} cores)"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan(chosen: list[Path], profile: str, machine: str | None = None) -> str:
    """What a run will do: each notebook with its last successful wall time on this kind of machine."""
    machine = machine or this_machine()
    last = {r["stage"]: r for r in registry.read(profile)["runs"]
            if r.get("status") == "ok" and (r.get("device") or "").startswith(machine)}
    lines = [f"fmnist run: {len(chosen)} notebook(s) in the {profile} profile on {machine}:"]
    known = 0.0
    for path in chosen:
        previous = last.get(path.stem)
        if previous:
            known += previous["seconds"]
            lines.append(f"  {path.stem}: {_duration(previous['seconds'])} last time ({previous['time'][:10]})")
        else:
            lines.append(f"  {path.stem}: no earlier run on this kind of machine")
    if known:
        lines.append(f"  recorded total: about {_duration(known)} (more from a fresh clone, less when recorded work is reused: README, 'Two commands')")
    if profile == "full":
        lines.append("  This rewrites committed outputs: the notebooks in place, figures/full/, models/full/, "
                     "results/full.json and README's results section (`git diff` shows the changes, "
                     "`git checkout -- .` undoes them).")
    else:
        lines.append(f"  Writes executed copies to runs/{profile}/; committed files stay untouched.")
    return "\n".join(lines)


def failed_runs_file(profile: str) -> Path:
    """Where failed runs are recorded: an ignored file, so a failure never dirties the committed registry."""
    return paths.runs_dir(profile) / "failed-runs.json"


def regenerate_readme(stream=sys.stderr) -> None:
    """Rewrite README's results section from results/full.json (if the repository has a README)."""
    target = readme.default_path()
    if target.is_file():
        changed = readme.update_readme(target, registry.read("full"))
        print(f"README.md: results section {'regenerated' if changed else 'already up to date'} "
              f"from results/full.json", file=stream)


def run(profile: str = "full", only: list[str] | None = None, folder: Path | None = None,
        stream=sys.stderr) -> list[tuple[str, float]]:
    """Run the selected notebooks in order; return (notebook, seconds) for each.

    SIGINT and SIGTERM raise `Interrupted`, which says what was kept: notebooks that finished, and
    the partly executed copy of the one that was running.
    """
    profile = get_profile(profile).name
    chosen = select(notebooks(folder), only)
    if not chosen:
        raise FmnistError("No notebooks found in notebooks/ (expected names like 00_problem_and_data.ipynb).")
    print(plan(chosen, profile), file=stream, flush=True)
    in_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in EXIT_CODES} if in_main else {}
    timings: list[tuple[str, float]] = []
    try:
        return _run_all(chosen, profile, stream, timings)
    except Interrupted as exc:
        done = f"; finished before it: {', '.join(name for name, _ in timings)}" if timings else ""
        raise Interrupted(f"{str(exc) or signal.Signals(exc.signum).name + ' stopped the run'}{done}. "
                          f"Run the same command again to start over.", exc.signum) from None
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: a handler not installed from Python, which cannot be put back
                signal.signal(sig, handler)
        if profile == "full":  # notebooks record as they go, so even a failed run can change the table
            regenerate_readme(stream)


def _run_all(chosen: list[Path], profile: str, stream, timings: list) -> list[tuple[str, float]]:
    from tqdm.std import tqdm  # text on `stream`: in a kernel (prerequisites) tqdm.auto stores a dead widget

    for number, path in enumerate(chosen, 1):
        partial = interrupted_copy(path, profile)
        if partial.exists():
            stopped = time.strftime("%Y-%m-%d %H:%M", time.localtime(partial.stat().st_mtime))
            print(f"{path.stem}: found {_shown(partial)}, the partly executed copy an interrupted run left "
                  f"({stopped}); running the notebook again from the start.", file=stream)
        n_code = sum(1 for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        label = f"[{number}/{len(chosen)}] {path.stem} ({profile})"
        start, started_at, commit = time.perf_counter(), registry.now(), code_commit()
        with tqdm(total=n_code, desc=label, unit="cell", file=stream, leave=True, miniters=1, mininterval=0) as bar:
            try:
                nb = execute(path, profile, progress=bar)
            except NotebookError as exc:
                seconds = time.perf_counter() - start
                failed_copy = paths.runs_dir(profile) / f"{path.stem}.failed.ipynb"
                with paths.atomic_path(failed_copy) as tmp:
                    nbformat.write(exc.notebook, tmp)
                record_run(path.stem, seconds, "failed", profile, exc.notebook, commit, path=failed_runs_file(profile))
                raise NotebookError(f"{exc} (partly executed copy: {failed_copy})") from None
            except Interrupted as exc:
                if exc.notebook is None:
                    raise
                with paths.atomic_path(partial) as tmp:
                    nbformat.write(exc.notebook, tmp)
                raise Interrupted(f"{exc}; its partly executed copy is {_shown(partial)}", exc.signum) from None
        seconds = time.perf_counter() - start
        with paths.atomic_path(output_path(path, profile)) as tmp:
            nbformat.write(nb, tmp)
        record_run(path.stem, seconds, "ok", profile, nb, commit)
        dropped = registry.drop_stale(path.stem, started_at, profile)
        if dropped:
            print(f"{path.stem}: dropped results its new run no longer produces: {', '.join(dropped)}", file=stream)
        partial.unlink(missing_ok=True)  # this run replaces what the interrupted one left
        timings.append((path.stem, seconds))
        print(f"{path.stem}: {seconds:.0f} s", file=stream)
    return timings
