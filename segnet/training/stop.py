"""Stopping a training run on SIGINT/SIGTERM at a safe point, never in the middle of a step
(and the time budget check, the other reason to stop between epochs).

A Python signal handler runs between any two bytecodes of the main thread: raising from it (as
``KeyboardInterrupt`` does) can land inside ``optimizer.step()`` or between it and the step
counter, and the checkpoint written then holds weights its counters do not describe. So the
handler only records the request; the loop looks at it where the state is whole (after an
optimizer step and its counters, between validation batches),
saves ``last.pt`` and raises ``TrainingInterrupted``.

A second signal while the first is pending (a step that takes long, a slow save) ends the
process at once with the same message: the atomic checkpoint write leaves the old or the new
``last.pt``. Before training starts (data, model set-up) there is nothing to save, and a signal
raises ``KeyboardInterrupt`` at once as usual.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from segnet.core.choices import EXIT_INTERRUPTED
from segnet.errors import SegnetError
from segnet.training.distributed import any_rank, current_rank

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal; ``run_dir/last.pt`` holds its resumable state (if ``resumable``).
    ``is_main``: raised in the first process (the only one that reports, under torchrun)."""

    def __init__(self, run_dir: Path, resumable: bool):
        super().__init__(str(run_dir))
        self.run_dir, self.resumable = Path(run_dir), resumable
        self.is_main = current_rank() == 0

    def message(self, resume_hint: str | None = None) -> str:
        """The one line a stopped run prints (see ``interrupted_message``)."""
        return interrupted_message(self.run_dir, self.resumable, resume_hint)


class StopRequested(Exception):
    """Raised at a safe point inside the loop once a stop was requested; the trainer turns it into
    a save and TrainingInterrupted. Not a KeyboardInterrupt, so nothing on the way catches it as one."""


def interrupted_message(run_dir: Path | None, resumable: bool, resume_hint: str | None = None) -> str:
    """The one line a stopped run prints: where its resumable state is and, when the caller gives
    ``resume_hint`` (``{run_dir}`` filled in), how to continue it (the command line names its own
    command; the library names none)."""
    if run_dir is None or not resumable:
        return "segnet: interrupted"
    hint = f" ({resume_hint.format(run_dir=run_dir)})" if resume_hint else ""
    return f"segnet: interrupted; resumable state in {run_dir}/last.pt{hint}"


class StopSignals:
    """Install with ``with StopSignals(run_dir) as stop:``; ``stop.armed = True`` once the loop runs.
    ``resume_hint``: for the line a second signal prints (``interrupted_message``)."""

    def __init__(self, run_dir: Path | None = None, resume_hint: str | None = None):
        self.run_dir = Path(run_dir) if run_dir is not None else None  # set once known, before arming
        self.resume_hint = resume_hint
        self.requested: int | None = None  # the signal number, once one arrived
        self.armed = False  # False: set-up, a signal raises KeyboardInterrupt at once
        self._pid = os.getpid()
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        # Only the main thread may set handlers (a library user training in a thread keeps theirs).
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            return  # a forked DataLoader worker before it set its own handlers: the main process decides
        if not self.armed:
            raise KeyboardInterrupt
        if self.requested is not None:  # second signal: leave now; last.pt is old or new, never torn
            resumable = (self.run_dir / "last.pt").is_file()
            os.write(2, (interrupted_message(self.run_dir, resumable, self.resume_hint) + "\n").encode())
            os._exit(EXIT_INTERRUPTED)
        self.requested = signum

    def request(self) -> None:
        """Act as if a signal arrived (debug.interrupt_at_step; library callers)."""
        self.requested = self.requested or signal.SIGINT

    def requested_anywhere(self, device) -> bool:
        """A stop signal arrived (under DDP: on any rank, and every rank agrees; a collective)."""
        return any_rank(self.requested is not None, device)


def out_of_time(epoch_seconds: float, *budgets: tuple[float, float | None]) -> bool:
    """Whether another epoch like the last one (``epoch_seconds``) would overrun a budget:
    ``(started, max_minutes)`` pairs of ``time.monotonic()`` starts and limits (None: no limit)."""
    now = time.monotonic()
    return any(limit is not None and (now - started) + epoch_seconds > limit * 60 for started, limit in budgets)


def worker_death(exc: RuntimeError, run_dir: Path) -> SegnetError | None:
    """A DataLoader worker killed from outside (the OOM killer, SIGKILL) as one SegnetError; the
    last.pt of the last safe point stays as it was. None for any other RuntimeError."""
    if "DataLoader worker" not in str(exc):
        return None
    kept = run_dir / "last.pt"
    kept_msg = f"resumable state kept in {kept}" if kept.is_file() else "no checkpoint written yet"
    return SegnetError(f"a data loader process died ({str(exc).splitlines()[0].rstrip('. ')}; out of memory? "
                       f"fewer data.num_workers need less); training stopped, {kept_msg}")
