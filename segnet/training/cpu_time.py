"""CPU time a training has used, across resumes: metrics.csv's ``cpu_minutes`` column.

Budgets compared on a shared machine are fair only in CPU time: wall time grows with whatever
else runs beside the training. The clock counts this process, its live children (data loader
workers) and the children it has reaped, from the moment the trainer starts, plus what the
checkpoint says earlier runs used. Where that is unknown (a checkpoint written before the
column existed, or a distributed run, whose other ranks this process cannot see) the column
stays empty rather than wrong.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import psutil


def process_tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process, its live descendants and its reaped children."""
    me = psutil.Process()
    own = me.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
            times = child.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class CpuClock:
    """CPU seconds of a training: ``before`` (earlier runs; None: unknown) plus this run's."""

    before: float | None = 0.0
    started: float = field(default_factory=process_tree_cpu_seconds)
    _last: float = 0.0

    @classmethod
    def resumed(cls, resume: dict | None, distributed: bool) -> CpuClock:
        if distributed:
            return cls(before=None)
        if resume is None:
            return cls()
        saved = resume.get("cpu_seconds")
        return cls(before=None if saved is None else float(saved))

    @property
    def seconds(self) -> float | None:
        if self.before is None:
            return None
        # never backwards: a worker's seconds drop out for the moment between its exit and its reaping
        self._last = max(self._last, self.before + process_tree_cpu_seconds() - self.started)
        return self._last

    @property
    def minutes(self) -> float | None:
        seconds = self.seconds
        return None if seconds is None else seconds / 60

