"""One training at a time per run folder: an exclusive lock on ``RUN_DIR/.segnet.lock``.

Two processes training into one folder would interleave their checkpoints and write every
epoch of metrics.csv twice. The lock is a POSIX record lock (``fcntl.lockf``) held for the
whole run; the kernel releases it when the process ends, however it ends, so a killed run
leaves no stale lock. Not ``flock``: a flock is shared with every process forked while it is
held, and DataLoader workers, forked mid-run, outlive a SIGKILLed trainer by seconds, which
would refuse the resume that follows. The file holds the holder's pid, for the refusal line.
Under DDP only rank 0 takes it (the other ranks are the same run).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from segnet.core.atomic import os_reason
from segnet.errors import SegnetError

LOCK_NAME = ".segnet.lock"


class RunLock:
    """``with RunLock(run_dir):`` holds the run folder, or raises a one-line SegnetError naming the
    pid that holds it. The folder must exist."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise SegnetError(f"cannot write {self.path}: {os_reason(exc)}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise SegnetError(f"cannot lock {self.path}: {os_reason(exc)}") from None
            raise SegnetError(f"{self.path.parent} is in use by another training ({self._holder()}); "
                              "wait for it to end, or choose another run_dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def _holder(self) -> str:
        # read through a new descriptor only here, in the refused process: closing any descriptor
        # of the file would drop a POSIX lock this process held
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"pid {pid}" if pid.isdigit() else "pid unknown"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock; the file stays (unlinking it would race)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
