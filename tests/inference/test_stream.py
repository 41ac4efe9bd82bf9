"""Stream URLs, served by a local HTTP server on 127.0.0.1 (a thread, stopped after each test):
frames are segmented as they arrive, --max-frames stops early, and Ctrl-C during a live source
keeps and finalises what was segmented while Ctrl-C during a file still writes nothing."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.cli import main
from segnet.deploy.loading import load_predictor
from segnet.jobs.predict import OutputOptions, collect_inputs, run_predict

REPO = Path(__file__).resolve().parents[2]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served(tmp_path, video_helpers):
    """Base URL of a server on 127.0.0.1 (a free port) serving tmp_path/www with clip.avi (9 frames)."""
    root = tmp_path / "www"
    root.mkdir()
    video_helpers.write(root / "clip.avi", video_helpers.frames(9))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_stream_url_is_segmented(served, tiny_model_ckpt, tmp_path, video_helpers, capsys):
    out = tmp_path / "out"
    argv = ["predict", "--checkpoint", str(tiny_model_ckpt), f"{served}/clip.avi", "--out", str(out),
            "--device", "cpu", "--amp", "off", "--save-frames", "--batch-size", 2]
    assert main([str(a) for a in argv]) == 0
    assert f"{served}/clip.avi: 9 frames at" in capsys.readouterr().out
    video = next(out.glob("clip_overlay.*"))
    assert len(video_helpers.read(video)) == 9
    assert len(list((out / "clip_frames").glob("*_labels.png"))) == 9
    # the labels are those of the clip's frames, read from the file
    decoded = video_helpers.read(tmp_path / "www" / "clip.avi")
    expected = load_predictor(load_checkpoint(tiny_model_ckpt), device="cpu", amp="off").predict(decoded[-1:])[0]
    labels = cv2.imread(str(out / "clip_frames" / "000008_labels.png"), cv2.IMREAD_UNCHANGED)
    assert (labels == expected).mean() > 0.999


def test_max_frames_stops_a_stream(served, tiny_model_ckpt, tmp_path, video_helpers):
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(tiny_model_ckpt), f"{served}/clip.avi", "--out", str(out),
                 "--device", "cpu", "--max-frames", "3"]) == 0
    assert len(video_helpers.read(next(out.glob("clip_overlay.*")))) == 3


class _InterruptAfter:
    """A predictor stand-in that is interrupted at its call number ``n``: by a SIGINT to this
    process (``signal_it``, as Ctrl-C does) or by KeyboardInterrupt raised there."""

    def __init__(self, predictor, n: int, signal_it: bool = True):
        self.predictor, self.n, self.calls, self.signal_it = predictor, n, 0, signal_it

    def __getattr__(self, name):
        return getattr(self.predictor, name)

    def predict(self, frames: list[np.ndarray]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.n:
            if not self.signal_it:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)  # mid-batch: the batch is still finished
        return self.predictor.predict(frames)


def test_ctrl_c_on_a_stream_keeps_what_was_segmented(served, tiny_model_ckpt, tmp_path, video_helpers):
    before = signal.getsignal(signal.SIGINT)
    predictor = _InterruptAfter(load_predictor(load_checkpoint(tiny_model_ckpt), device="cpu", amp="off"), n=3)
    out = tmp_path / "out"
    inputs = collect_inputs([f"{served}/clip.avi"], save_frames=True)
    summary = run_predict(predictor, inputs, out, OutputOptions(batch_size=2, save_frames=True), progress=False)
    (video,) = summary["videos"]
    assert video["stopped"] == "Ctrl-C" and video["frames"] == 6
    assert len(video_helpers.read(out / video["output"])) == 6  # finalised: a player reads every frame
    assert (sorted(p.name for p in (out / "clip_frames").glob("*_labels.png"))
            == [f"{i:06d}_labels.png" for i in range(6)])
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_ctrl_c_on_a_file_writes_nothing(tiny_model_ckpt, clip, tmp_path):
    predictor = _InterruptAfter(load_predictor(load_checkpoint(tiny_model_ckpt), device="cpu", amp="off"), n=2,
                                signal_it=False)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_predict(predictor, collect_inputs([str(clip)]), out, OutputOptions(), progress=False)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_a_missing_stream_path_is_one_line(served, tmp_path, capsys):
    assert main(["predict", f"{served}/absent.avi", "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"segnet: error: cannot open {served}/absent.avi")
    assert not (tmp_path / "out").exists()


class _WaitForGrabber:
    """A predictor stand-in whose first call waits until the source has sent every frame (the
    frame-grabber thread ended): a model far slower than its source, without timing."""

    def __init__(self, predictor):
        self.predictor, self.calls = predictor, 0

    def __getattr__(self, name):
        return getattr(self.predictor, name)

    def predict(self, frames: list[np.ndarray]) -> np.ndarray:
        self.calls += 1
        if self.calls == 1:
            for thread in threading.enumerate():
                if thread.name == "segnet-frame-grabber":
                    thread.join(timeout=60)
        return self.predictor.predict(frames)


def test_a_realtime_source_segments_the_newest_frame(served, tiny_model_ckpt, tmp_path, video_helpers, monkeypatch):
    import segnet.jobs.video as video

    monkeypatch.setattr(video, "is_realtime", lambda source: True)  # as a camera or RTSP source is
    predictor = _WaitForGrabber(load_predictor(load_checkpoint(tiny_model_ckpt), device="cpu", amp="off"))
    out = tmp_path / "out"
    inputs = collect_inputs([f"{served}/clip.avi"], save_frames=True)
    summary = run_predict(predictor, inputs, out, OutputOptions(save_frames=True), progress=False)
    (result,) = summary["videos"]
    # frame 0, then the newest when the model was ready again: the last; 1..7 passed meanwhile
    assert (sorted(p.name for p in (out / "clip_frames").glob("*_labels.png"))
            == ["000000_labels.png", "000008_labels.png"])
    assert result["frames"] == 2 and result["source_frames"] == 9
    assert len(video_helpers.read(out / result["output"])) == 9  # the video keeps the source's time


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_stream_keeping_a_finished_video(sig, tiny_model_ckpt, tmp_path, video_helpers):
    """The real command on a stream that stalls half way (a live source waiting for its next
    frame): the signal ends it, exit 0, and the video and frames segmented so far are in --out."""
    clip = video_helpers.write(tmp_path / "long.avi", video_helpers.frames(120))
    data, resume = clip.read_bytes(), threading.Event()

    class Stalling(_Quiet):
        def do_GET(self) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                resume.wait(timeout=120)
                self.wfile.write(data[len(data) // 2:])
            except OSError:  # the first request (the input check) hangs up early
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("SEGNET_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "segnet", "predict", "--checkpoint", str(tiny_model_ckpt),
                             f"http://127.0.0.1:{server.server_address[1]}/long.avi", "--out", str(out),
                             "--device", "cpu", "--save-frames"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.staging-*/long_frames/000000_labels.png")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(sig)
        time.sleep(0.5)
        resume.set()  # the blocked read returns; the stop is acted on
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        resume.set()
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0 and "Traceback" not in stderr, (stdout, stderr)
    assert f"stopped by {'Ctrl-C' if sig == signal.SIGINT else 'SIGTERM'}" in stdout
    labels = sorted((out / "long_frames").glob("*_labels.png"))
    colors = sorted((out / "long_frames").glob("*_color.png"))
    assert 1 <= len(labels) == len(colors) < 120  # whole frames only, wherever the signal landed
    assert len(video_helpers.read(next(out.glob("long_overlay.*")))) == len(labels)
