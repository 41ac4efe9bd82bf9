"""All-or-nothing output folders: files are written into a hidden staging folder next to
the destination and moved in by ``os.replace`` only when the whole job succeeded.

A failure (bad input, interrupt, full disk) removes the staging folder, so the destination
never holds half of a job's files. A run killed outright (SIGKILL, power loss) cannot clean up:
its staging folder is named after the machine and process that made it, and the next job
writing to the same destination removes it once that process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import zlib
from pathlib import Path

from segnet.errors import SegnetError


def _host_tag() -> str:
    """8 hex digits for this machine: on a shared file system a pid means nothing on another host."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False  # alive (another user's), or a pid this system cannot have: keep the folder
    return False


def remove_stale_staging(out: Path) -> list[Path]:
    """Remove staging folders for ``out`` whose owning process, on this machine, no longer exists.

    Folders of live processes (a concurrent job), of other machines and of unknown naming are kept.
    """
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.staging-([0-9a-f]{{8}})-(\d+)-[^-]+$")
    removed = []
    with contextlib.suppress(OSError):
        for folder in out.parent.iterdir():
            match = pattern.match(folder.name)
            if match and match[1] == _host_tag() and _process_gone(int(match[2])) and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


class Staging:
    """``with Staging(out) as stage: stage.path("x.png")`` ... files land in ``out`` on success."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.root: Path | None = None
        self.created: list[Path] = []  # folders above ``out`` made for the staging folder, deepest first

    def __enter__(self) -> "Staging":
        if self.out.exists() and not self.out.is_dir():
            raise SegnetError(f"output folder {self.out} exists and is not a folder")
        target = self.out.resolve()  # `--out .` has no name until resolved
        parent = target.parent
        self.created = [p for p in (parent, *parent.parents) if not p.exists()]
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_stale_staging(target)
            prefix = f".{target.name}.staging-{_host_tag()}-{os.getpid()}-"
            self.root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        except OSError as exc:
            self._remove_created()
            raise SegnetError(f"cannot write into {parent}: {exc.strerror or exc}") from None
        return self

    def path(self, name: str) -> Path:
        """Where to write ``name`` now; it moves to ``out/name`` on commit."""
        assert self.root is not None
        return self.root / name

    def commit(self) -> list[Path]:
        assert self.root is not None
        self.out.mkdir(parents=True, exist_ok=True)
        moved = []
        for item in sorted(self.root.iterdir()):
            target = self.out / item.name
            os.replace(item, target)
            moved.append(target)
        return moved

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
            if exc_type is not None:
                self._remove_created()

    def _remove_created(self) -> None:
        """A failed job leaves no empty folders behind either."""
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:
                break
