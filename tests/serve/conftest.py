"""Fixtures for the service tests: the bundled model on torch (no OpenVINO conversion), a CamVid
frame, and a real ``segnet serve`` process on 127.0.0.1 with a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
