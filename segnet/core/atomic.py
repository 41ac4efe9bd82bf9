"""Atomic file writes: a temporary file in the same folder, fsynced, then renamed over the target.

A crash at any moment leaves either the old file or the new one, never half of one. The
temporary file is ``.NAME.<random>.tmp`` beside the target (same file system, so the rename
is atomic); a kill can leave one behind, which ``remove_stale_temporaries`` clears.

    with atomic_write(path) as f:        # binary file object
        torch.save(payload, f)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back (no threads write files here)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Yield a file object for ``path``'s replacement; rename it into place only on success.

    The file gets the permissions a plain ``open()`` would give (0666 less the umask):
    tempfile.mkstemp creates 0600 files, which would make every output private.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def os_reason(exc: OSError) -> str:
    """An OSError as the few words a one-line message needs ("no space left on device"): the
    errno's text without the path, which the caller's message names once."""
    if exc.errno is None:
        return str(exc) or type(exc).__name__
    text = os.strerror(exc.errno)
    return text[:1].lower() + text[1:]


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (the directory entry itself is data to flush)."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(folder: str | os.PathLike, name_glob: str = "*") -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files that writes killed mid-way left in ``folder``."""
    removed = []
    for tmp in Path(folder).glob(f".{name_glob}.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed
