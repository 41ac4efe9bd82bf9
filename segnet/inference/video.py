"""Video in and out through OpenCV, with one clear error per failure.

Writers try codecs in order and keep the first whose ``isOpened()`` is true: OpenCV wheels
differ in the encoders they carry (the pip wheel has MPEG-4 Part 2 ``mp4v`` but no H.264).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from segnet.errors import SegnetError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
# (fourcc, container suffix), best first.
WRITER_CODECS = (("mp4v", ".mp4"), ("avc1", ".mp4"), ("MJPG", ".avi"))
DEFAULT_FPS = 25.0


class VideoReader:
    """RGB frames of a video file; ``fps``, ``size`` (width, height) and ``frame_count`` (an estimate)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise SegnetError(f"input not found: {self.path}")
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise SegnetError(f"cannot open video {self.path}: unreadable file or unsupported codec")
        ok, first = self.capture.read()
        if not ok or first is None:
            self.close()
            raise SegnetError(f"cannot read video {self.path}: no decodable frame")
        self._first: np.ndarray | None = first
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS
        self.size = (first.shape[1], first.shape[0])
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None

    def __iter__(self) -> Iterator[np.ndarray]:
        frame = self._first
        self._first = None
        while frame is not None:
            yield _to_rgb(frame)
            ok, frame = self.capture.read()
            if not ok:
                frame = None

    def close(self) -> None:
        self.capture.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def check_video(path: str | Path) -> None:
    """Raise SegnetError unless ``path`` opens and yields a first frame (checked before any output)."""
    VideoReader(path).close()


class VideoWriter:
    """RGB frames into ``<base><suffix>``: the first codec that opens wins (see WRITER_CODECS).

    ``path`` tells where it went; ``codec`` which fourcc was used.
    """

    def __init__(self, base: str | Path, fps: float, size: tuple[int, int], codecs=WRITER_CODECS):
        self.size = size
        self.writer = None
        tried = []
        for fourcc, suffix in codecs:
            path = Path(f"{base}{suffix}")
            with contextlib.suppress(cv2.error):
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
                if writer.isOpened():
                    self.writer, self.path, self.codec = writer, path, fourcc
                    return
                writer.release()
            path.unlink(missing_ok=True)
            tried.append(fourcc)
        raise SegnetError(f"cannot write video {base}.*: no working encoder among {', '.join(tried)} in this OpenCV")

    def write(self, rgb: np.ndarray) -> None:
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise SegnetError(f"{self.path}: frame size {rgb.shape[1]}x{rgb.shape[0]} differs from {self.size[0]}x{self.size[1]}")
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)
