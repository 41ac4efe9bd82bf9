"""Long child processes for the study and campaign tools (segnet train, measurements).

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the tool, which
forwards exactly one SIGINT to each child: segnet train then stops at its next safe point and
writes last.pt, whereas a second SIGINT would make it exit without waiting. CPU time and peak RSS
come from wait4, so they count the child and the descendants it reaped (DataLoader workers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChildResult:
    code: int  # the exit code; negative: killed by that signal
    wall_s: float
    cpu_s: float  # user + system, the child and its reaped descendants
    peak_rss_mib: float


class Supervisor:
    """Runs children (from any thread) and stops them all, once each, on stop()."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self._stop = threading.Event()
        self._live: dict[int, subprocess.Popen] = {}
        self._interrupted: dict[int, object] = {}

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop_on_signals(self) -> None:
        """SIGINT and SIGTERM to this process stop the children (call from the main thread). It
        also gives the children SIGINT's default disposition: a background job of a non-interactive
        shell (`nohup tool &`) starts with SIGINT ignored, and a child would inherit that and lose a
        SIGINT sent before it installs its own handler."""
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)

    def stop(self, *_signal_args) -> None:
        self._stop.set()
        for proc in list(self._live.values()):
            self._interrupt(proc)

    def _interrupt(self, proc: subprocess.Popen) -> None:
        # The run thread and a signal handler can both reach here for one child; setdefault is
        # atomic, so exactly one of them sends the SIGINT. No lock: a handler that interrupts
        # the main thread while it holds one would deadlock.
        token = object()
        if self._interrupted.setdefault(proc.pid, token) is token:
            proc.send_signal(signal.SIGINT)

    def run(self, cmd: list[str], log: Path, env: dict | None = None, core: int | str | None = None) -> ChildResult:
        """Run ``cmd`` to its end, output appended to ``log``; pinned to ``core`` (a core, or a
        taskset list such as "0,1") when given."""
        where = f"core {core}, " if core is not None else ""
        if core is not None:
            cmd = ["taskset", "-c", str(core), *cmd]
        start = time.monotonic()
        with open(log, "a") as out:
            out.write(f"\n$ {' '.join(cmd)}  # {where}{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            out.flush()
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd,
                                    env=dict(os.environ, **(env or {})), start_new_session=True)
            self._live[proc.pid] = proc
            if self.stopping:  # stop() ran before this child was registered
                self._interrupt(proc)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            self._live.pop(proc.pid, None)
            self._interrupted.pop(proc.pid, None)  # the pid may be reused by a later child
        return ChildResult(proc.returncode, time.monotonic() - start, usage.ru_utime + usage.ru_stime,
                           usage.ru_maxrss / 1024)  # ru_maxrss: KiB on Linux
