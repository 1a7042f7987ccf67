"""Silence TensorFlow's native start-up lines where they start, instead of stripping them afterwards.

TensorFlow's C++ code logs a few lines while it loads ("All log messages before absl::InitializeLog()
is called are written to STDERR", "Could not find cuda drivers", CPU feature notices) straight to file
descriptor 2, before its own TF_CPP_MIN_LOG_LEVEL is read. Jupyter forwards that descriptor into the
notebook as a pink stderr block. `quiet_native_logs()` points the descriptor at a file while Keras
(and so TensorFlow) is imported, then passes on every line that is not such a log line, so a real error
message is never lost.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager

# "I0000 00:00:1796160588.103638    6772 cudart_stub.cc:31] ..." is absl's native log format.
NATIVE_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\] .*"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.)$")


def is_native_log_line(line: str) -> bool:
    """True for a line of TensorFlow's native start-up logging."""
    return bool(NATIVE_LOG_LINE.match(line.rstrip("\r\n")))


@contextmanager
def quiet_native_logs():
    """Run the block with file descriptor 2 captured; re-emit all but native log lines on stderr."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # what TensorFlow does honour, once it reads it
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (some embedded interpreters): nothing to silence
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_native_log_line(line)]
            if "".join(kept).strip():
                sys.stderr.write("".join(kept))
