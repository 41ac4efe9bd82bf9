"""Fixtures for the service tests: the bundled model on torch (no OpenVINO conversion), a CamVid
frame, a real ``segnet serve`` process on 127.0.0.1 with a free port, a small video clip and
synthetic evaluation-report inputs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from segnet.jobs.report import frame_miou, worst_frame_names

REPO = Path(__file__).resolve().parents[2]
FRAME_NAME = "0001TP_008550.png"
START_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def model():
    import segnet

    return segnet.load_model(backend="torch")


@pytest.fixture(scope="module")
def frame_path(camvid_root) -> Path:
    return camvid_root / "test" / FRAME_NAME


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``segnet serve`` in a child process; ``url`` once /healthz answers."""

    def __init__(self, *flags: str, tmp_dir: Path, token: str | None = None):
        self.port, self.token = free_port(), token
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_dir / f"server-{self.port}.log"
        env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_dir), "SEGNET_BACKEND": "torch"}
        command = [sys.executable, "-m", "segnet", "serve", "--port", str(self.port), "--backend", "torch",
                   "--log-level", "warning", *flags]
        if token:
            command += ["--token", token]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"segnet serve exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"segnet serve did not answer within {START_TIMEOUT_S} s")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server per test module, with a token."""
    process = ServerProcess(tmp_dir=tmp_path_factory.mktemp("serve"), token="test-token-123")
    yield process
    process.stop()


def write_clip(path, frames=6, size=(96, 64)):
    """A small MJPG .avi: sky-blue top half, a road-coloured band growing frame by frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        picture = np.zeros((size[1], size[0], 3), np.uint8)
        picture[: size[1] // 2] = (235, 206, 135)  # a sky-blue top half (BGR)
        picture[size[1] // 2:, : 10 + 10 * i] = (128, 64, 128)
        writer.write(picture)
    writer.release()
    return path


REPORT_NAMES = ["Sky", "Road", "Car"]
REPORT_PALETTE = [[128, 128, 128], [128, 64, 128], [64, 0, 128], [0, 0, 0]]  # last row: void, ignored


def synthetic_report_inputs(frames: int = 6, worst: int = 3) -> dict:
    """render_report's arguments for random frames whose error rate grows with their index."""
    rng = np.random.default_rng(0)
    frame_mious, worst_frames, confusion = [], [], np.zeros((3, 3), np.int64)
    for i in range(frames):
        truth = rng.integers(0, 4, (36, 48)).astype(np.uint8)  # 3 = void
        prediction = np.where(rng.random((36, 48)) < i / frames, rng.integers(0, 3, (36, 48)), truth).astype(np.uint8)
        prediction[truth == 3] = 0
        valid = truth < 3
        frame = np.bincount(3 * truth[valid].astype(int) + prediction[valid], minlength=9).reshape(3, 3)
        confusion += frame
        frame_mious.append((f"frame_{i}", frame_miou(frame)))
        worst_frames.append((f"frame_{i}", rng.integers(0, 256, (36, 48, 3), dtype=np.uint8), truth, prediction))
    hits = np.diag(confusion)
    ious = hits / (confusion.sum(0) + confusion.sum(1) - hits)
    names = worst_frame_names(frame_mious, worst)
    return dict(class_names=REPORT_NAMES, palette=REPORT_PALETTE, confusion=confusion,
                per_class_iou=dict(zip(REPORT_NAMES, ious)), frame_mious=frame_mious,
                worst_frames=[w for w in worst_frames if w[0] in names],
                metadata={"title": "fc_densenet56 on CamVid test", "mIoU": f"{100 * ious.mean():.1f}"})
