"""Video jobs: an uploaded video segmented frame by frame in the background.

Each job reads its frames with OpenCV, sends them through the service's one ``MicroBatcher``
(so videos and images share the model instance and never run two forward passes at once), and
writes the overlay video (VP8 WebM, which browsers play, with the class legend) and a zip of
per-frame label maps. At most ``max_running`` jobs run at once and ``max_jobs`` exist at once;
a finished job's files are removed ``keep_s`` seconds after it finished.
"""

from __future__ import annotations

import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from segnet.service.errors import ApiError

WEBM_FOURCC = "VP80"


@dataclass
class VideoJob:
    id: str
    folder: Path
    state: str = "queued"  # queued -> running -> done | failed | cancelled
    frames_done: int = 0
    frames_total: int | None = None
    error: str | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def describe(self, keep_s: float) -> dict:
        expires = None if self.finished_at is None else max(0.0, self.finished_at + keep_s - time.time())
        return {"id": self.id, "state": self.state, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "error": self.error,
                "expires_in_s": None if expires is None else round(expires, 1)}


def probe_video(path: Path, max_pixels: int) -> tuple[int | None, float, tuple[int, int]]:
    """(frame count or None, fps, (width, height)); ApiError 400 when OpenCV cannot read a frame."""
    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            raise ApiError(400, "the upload is not a video this server can read (MP4, WebM, AVI, MKV, ...)")
        height, width = frame.shape[:2]
        if width * height > max_pixels:
            raise ApiError(413, f"video frames are {width}x{height}; this server takes at most {max_pixels} pixels")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        return (count if count > 0 else None), (fps if 0 < fps < 1000 else 25.0), (width, height)
    finally:
        capture.release()


class VideoJobs:
    """The video jobs of one service: ``submit`` an uploaded file, ``get`` a job's state."""

    def __init__(self, batcher, model, folder: Path, max_pixels: int, max_running: int = 1, max_jobs: int = 8,
                 keep_s: float = 600.0):
        self.batcher, self.model, self.folder, self.max_pixels = batcher, model, folder, max_pixels
        self.max_running, self.max_jobs, self.keep_s = max_running, max_jobs, keep_s
        self.jobs: dict[str, VideoJob] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_running, thread_name_prefix="segnet-video")

    def submit(self, upload: Path) -> VideoJob:
        """Start a job on ``upload`` (moved into the job's folder); ApiError 400/413/503."""
        self.expire()
        total, fps, size = probe_video(upload, self.max_pixels)
        with self._lock:
            if len(self.jobs) >= self.max_jobs:
                raise ApiError(503, f"{len(self.jobs)} video jobs exist; at most {self.max_jobs}, retry later",
                               {"Retry-After": "30"})
            job = VideoJob(uuid.uuid4().hex, self.folder / f"video-{uuid.uuid4().hex}", frames_total=total)
            job.folder.mkdir(mode=0o700)
            self.jobs[job.id] = job
        source = upload.rename(job.folder / "input")
        self._pool.submit(self._run, job, source, fps, size)
        return job

    def get(self, job_id: str) -> VideoJob:
        self.expire()
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no video job {job_id!r} (finished jobs expire after {self.keep_s:g} s)")
        return job

    def result_file(self, job_id: str, name: str) -> Path:
        job = self.get(job_id)
        if job.state != "done":
            detail = f": {job.error}" if job.error else f", {job.frames_done} frames done"
            raise ApiError(409, f"video job {job_id} is {job.state}{detail}")
        return job.folder / name

    def expire(self) -> None:
        now = time.time()
        with self._lock:
            old = [j for j in self.jobs.values() if j.finished_at is not None and now - j.finished_at > self.keep_s]
            for job in old:
                del self.jobs[job.id]
        for job in old:
            _remove_tree(job.folder)

    def _run(self, job: VideoJob, source: Path, fps: float, size: tuple[int, int]) -> None:
        job.state = "running"
        try:
            self._segment(job, source, fps, size)
            job.state = "cancelled" if job.cancel.is_set() else "done"
        except ApiError as exc:
            job.state, job.error = "failed", exc.message
        except Exception as exc:  # the job fails with one line; the service goes on
            job.state, job.error = "failed", " ".join(str(exc).split()) or type(exc).__name__
        finally:
            source.unlink(missing_ok=True)
            job.finished_at = time.time()

    def _segment(self, job: VideoJob, source: Path, fps: float, size: tuple[int, int]) -> None:
        capture = cv2.VideoCapture(str(source))
        writer = cv2.VideoWriter(str(job.folder / "overlay.webm"), cv2.VideoWriter_fourcc(*WEBM_FOURCC), fps, size)
        if not writer.isOpened():
            raise ApiError(500, "this OpenCV build cannot write VP8 WebM video")
        try:
            with zipfile.ZipFile(job.folder / "labels.zip", "w", zipfile.ZIP_STORED) as labels_zip:
                while not job.cancel.is_set():
                    ok, bgr = capture.read()
                    if not ok:
                        break
                    if (bgr.shape[1], bgr.shape[0]) != size:
                        raise ApiError(400, f"frame {job.frames_done} changes size to {bgr.shape[1]}x{bgr.shape[0]}")
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    ids = self.batcher.submit(rgb, bounded=False).result()
                    labels_zip.writestr(f"{job.frames_done:06d}_labels.png", cv2.imencode(".png", ids)[1].tobytes())
                    overlay = self.model.overlay(rgb, ids, legend=True)
                    writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
                    job.frames_done += 1
        finally:
            capture.release()
            writer.release()
        job.frames_total = job.frames_done

    def close(self) -> None:
        """Stop running jobs at their next frame and remove every job's files."""
        for job in list(self.jobs.values()):
            job.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for job in list(self.jobs.values()):
            _remove_tree(job.folder)
        self.jobs.clear()


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
