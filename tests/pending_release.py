"""Notebooks whose committed outputs predate the current code and await the release run.

Committed notebooks are executed in the full profile, which takes hours, so a change to a
notebook's code cells clears those cells' outputs and leaves the re-execution to a later
"release run" of the whole series. Until then the stored outputs of these notebooks may be
stale, partly missing or noisy (per-epoch logs, ANSI codes, paths of the machine that ran them).

Tests of committed outputs mark these notebooks ``xfail`` (not strict: a reader's
`make run ONLY="00 01"` re-executes some of them, and `make test` must still pass after it).
The release run empties this set; from then on every committed notebook is checked with no
exception. Smoke-executed outputs (nbval) get no exception at all.
"""

PENDING_RELEASE: set[str] = {  # issues 34-36 changed their code; 00, 01, 04 and 06 were re-executed since
    "02_low_capacity_convnet", "03_overfit", "05_transfer_learning"}
