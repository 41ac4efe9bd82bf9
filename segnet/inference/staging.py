"""All-or-nothing output folders: files are written into a hidden staging folder next to
the destination and moved in by ``os.replace`` only when the whole job succeeded.

A failure (bad input, interrupt, full disk) removes the staging folder, so the destination
never holds half of a job's files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from segnet.errors import SegnetError


class Staging:
    """``with Staging(out) as stage: stage.path("x.png")`` ... files land in ``out`` on success."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.root: Path | None = None
        self.created: list[Path] = []  # folders above ``out`` made for the staging folder, deepest first

    def __enter__(self) -> "Staging":
        if self.out.exists() and not self.out.is_dir():
            raise SegnetError(f"output folder {self.out} exists and is not a folder")
        parent = self.out.resolve().parent
        self.created = [p for p in (parent, *parent.parents) if not p.exists()]
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.root = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.staging-", dir=parent))
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


def write_png(path: str | Path, rgb_or_ids: np.ndarray) -> None:
    """PNG through OpenCV (RGB arrays are converted to its BGR order); SegnetError on failure."""
    array = rgb_or_ids
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok = False
    with contextlib.suppress(cv2.error):
        ok = cv2.imwrite(str(path), array)
    if not ok:
        raise SegnetError(f"cannot write {path}")
