"""Video in and out through OpenCV, with one clear error per failure.

Sources are video files, cameras (an index such as ``0``, or ``/dev/video0``) and stream URLs
(``rtsp://``, ``http(s)://``), all read by OpenCV's FFmpeg/V4L2 back-ends.

Writers try codecs in order and keep the first whose ``isOpened()`` is true: OpenCV wheels
differ in the encoders they carry. The pip wheel has VP8/VP9 (libvpx) but no H.264 encoder, so
overlays are VP8 WebM, which browsers play; VP9 compresses better but encodes ~9x slower here
(86 vs 10 ms per 480x360 frame), slower than the bundled model itself. MPEG-4 Part 2 ``mp4v``
(players yes, browsers no) and MJPG are the fallbacks.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from segnet.core.stderr import captured_stderr
from segnet.errors import SegnetError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
# (fourcc, container suffix), best first.
WRITER_CODECS = (("VP80", ".webm"), ("mp4v", ".mp4"), ("MJPG", ".avi"))
BROWSER_CODECS = ("VP80", "VP90", "avc1")
DEFAULT_FPS = 25.0
# A stream that does not connect or stops sending for this long is an error, not a hang.
STREAM_TIMEOUT_MS = 15000


def is_stream(spec: str) -> bool:
    return spec.lower().startswith(STREAM_SCHEMES)


def camera_index(spec: str) -> int | str | None:
    """``0`` -> 0 and ``/dev/video0`` -> the path: a camera; anything else -> None."""
    if spec.isdigit():
        return int(spec)
    if re.fullmatch(r"/dev/video\d+", spec):
        return spec
    return None


def describe_source(source: str | int | Path) -> str:
    return f"camera {source}" if isinstance(source, int) or str(source).startswith("/dev/video") else str(source)


def _open_capture(source: str | int | Path) -> cv2.VideoCapture:
    if isinstance(source, str) and is_stream(source):
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, timeouts)
    if isinstance(source, (int, str)) and camera_index(str(source)) is not None:
        capture = cv2.VideoCapture(source)
        with contextlib.suppress(cv2.error):
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # live: the newest frame, not a backlog
        return capture
    return cv2.VideoCapture(str(source))


def is_realtime(source: str | int | Path) -> bool:
    """Cameras and RTSP send frames at their own pace, whether or not they are read; files and
    HTTP(S) URLs (usually a file served) wait for the reader."""
    text = str(source)
    return isinstance(source, int) or camera_index(text) is not None or text.lower().startswith(("rtsp://", "rtsps://"))


class VideoReader:
    """RGB frames of a video file, camera or stream; ``fps``, ``size`` (width, height),
    ``frame_count`` (an estimate; None for live sources). ``live``: a camera or URL, which a
    Ctrl-C ends normally; ``realtime``: see ``frames()``."""

    def __init__(self, source: str | int | Path, realtime: bool | None = None):
        self.source = source
        self.name = describe_source(source)
        self.live = isinstance(source, int) or (isinstance(source, str)
                                                and (is_stream(source) or camera_index(source) is not None))
        self.realtime = is_realtime(source) if realtime is None else realtime
        self._grabber: threading.Thread | None = None
        self._stop = threading.Event()
        if not self.live and not Path(source).is_file():
            raise SegnetError(f"input not found: {source}")
        self.capture = _open_capture(source)
        if not self.capture.isOpened():
            what = "camera missing or busy" if isinstance(source, int) or camera_index(str(source)) is not None else \
                "unreachable, refused or not a video" if self.live else "unreadable file or unsupported codec"
            raise SegnetError(f"cannot open {'video ' if not self.live else ''}{self.name}: {what}")
        ok, first = self.capture.read()
        if not ok or first is None:
            self.close()
            raise SegnetError(f"cannot read {'video ' if not self.live else ''}{self.name}: no decodable frame")
        self._first: np.ndarray | None = first
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS
        self.size = (first.shape[1], first.shape[0])
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not self.live else 0
        self.frame_count = count if count > 0 else None

    def __iter__(self) -> Iterator[np.ndarray]:
        frame = self._first
        self._first = None
        while frame is not None and not self._stop.is_set():
            yield _to_rgb(frame)
            ok, frame = self.capture.read()
            if not ok:
                frame = None

    def request_stop(self) -> None:
        """End the frames as if the source had ended (safe from a signal handler)."""
        self._stop.set()

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index in the source, RGB frame). A real-time source is read by a thread that keeps
        only the newest frame, so a model slower than the source segments the present instead
        of an ever older backlog (and RTSP does not overflow); skipped indices are the frames
        that passed meanwhile. Other sources give every frame."""
        if not self.realtime:
            yield from enumerate(self)
            return
        first, self._first = self._first, None
        newest: list = [0, first, False]  # index, BGR frame, source ended
        ready = threading.Condition()

        def grab() -> None:
            index = 0
            while not self._stop.is_set():
                ok, frame = self.capture.read()
                with ready:
                    if ok:
                        index += 1
                        newest[:2] = index, frame
                    else:
                        newest[2] = True
                    ready.notify()
                if not ok:
                    return

        self._grabber = threading.Thread(target=grab, name="segnet-frame-grabber", daemon=True)
        self._grabber.start()
        yield 0, _to_rgb(first)
        last = 0
        while True:
            with ready:
                while newest[0] == last and not newest[2] and not self._stop.is_set():
                    ready.wait(0.5)  # a timeout lets request_stop() end the wait
                if newest[0] == last or self._stop.is_set():
                    return
                last, frame = newest[0], newest[1]
            yield last, _to_rgb(frame)

    def close(self) -> None:
        self._stop.set()
        if self._grabber is not None:
            # a read returns within a frame period (cameras) or the stream timeout (RTSP)
            self._grabber.join(timeout=STREAM_TIMEOUT_MS / 1000)
            if self._grabber.is_alive():
                return  # never release a capture that a thread is still reading
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


def check_video(source: str | int | Path) -> None:
    """Raise SegnetError unless ``source`` opens and yields a first frame (checked before any output)."""
    VideoReader(source).close()


class VideoWriter:
    """RGB frames into ``<base><suffix>``: the first codec that opens wins (see WRITER_CODECS).

    ``path`` tells where it went; ``codec`` which fourcc was used; ``browser_playable`` whether
    web browsers play it. Encoders need even sizes: an odd width or height loses its last
    column or row in the file.
    """

    def __init__(self, base: str | Path, fps: float, size: tuple[int, int], codecs=None):
        self.size = size
        self.writer = None
        tried = []
        for fourcc, suffix in codecs or WRITER_CODECS:
            path = Path(f"{base}{suffix}")
            # captured_stderr: OpenCV's tag note on every WebM writer, a plain fprintf
            with contextlib.suppress(cv2.error), captured_stderr():
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
                if writer.isOpened():
                    self.writer, self.path, self.codec = writer, path, fourcc
                    self.browser_playable = fourcc in BROWSER_CODECS
                    return
                writer.release()
            path.unlink(missing_ok=True)
            tried.append(fourcc)
        raise SegnetError(f"cannot write video {base}.*: no working encoder among {', '.join(tried)} in this OpenCV")

    def write(self, rgb: np.ndarray) -> None:
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise SegnetError(f"{self.path}: frame size {rgb.shape[1]}x{rgb.shape[0]} "
                              f"differs from {self.size[0]}x{self.size[1]}")
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


def gui_problem() -> str | None:
    """Why a window cannot be shown here (None when it can)."""
    gui = next((line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines()
                if line.strip().startswith("GUI:")), "")
    if gui.upper() in ("", "NONE"):
        return "this OpenCV has no window support (opencv-python-headless); install opencv-python to show frames"
    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to show frames on (DISPLAY is not set)"
    return None
