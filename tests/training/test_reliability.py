"""Training's promises under faults, through the real command: one ``segnet: error:`` line and exit
2 for frames smaller than the crop, a damaged frame read by loader workers, a full or read-only
disk, a last.pt of another network, and a second training on a run folder that is in use."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.config.load import load_config
from segnet.training.run_lock import RunLock

REPO = Path(__file__).resolve().parents[2]
TINY = {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}


def build_dataset(root: Path, height: int = 64, width: int = 64, sizes=(("train", 2), ("val", 1))) -> Path:
    rng = np.random.default_rng(0)
    for split, count in sizes:
        for folder in (split, f"{split}annot"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            cv2.imwrite(str(root / split / f"f{i}.png"), rng.integers(0, 256, (height, width, 3), np.uint8))
            cv2.imwrite(str(root / f"{split}annot" / f"f{i}.png"), rng.integers(0, 12, (height, width), np.uint8))
    return root


def recipe(path: Path, data_root: Path, run_dir: Path, options: dict | None = None, **top) -> Path:
    text = {"model": {"name": "fc_densenet", "options": dict(options or TINY)},
            "data": {"root": str(data_root), "num_workers": 0},
            "train": {"epochs": 1, "crop_size": 32, "batch_size": 1},
            "finetune": {"enabled": False}, "loss": {"class_weights": "none"}, "progress": False, "threads": 1,
            "run_dir": str(run_dir), **top}
    path.write_text(yaml.safe_dump(text))
    return path


def command(*argv) -> list[str]:
    return [sys.executable, "-m", "segnet", *map(str, argv)]


ENV = {**{k: v for k, v in os.environ.items() if k not in ("SEGNET_DEBUG", "SEGNET_DATA_ROOT")},
       "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def segnet_cli(*argv, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command(*argv), cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300,
                          check=False)


def one_error_line(proc, *names) -> str:
    """Exit 2, stderr exactly one ``segnet: error:`` line naming each of ``names``, no traceback."""
    report = f"[exit {proc.returncode}]\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, report
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("segnet: error: "), report
    for name in names:
        assert str(name) in lines[0], f"{name!r} not in {lines[0]}"
    return lines[0]


def train_in_process(tmp: Path, data: Path, run_dir: Path, *overrides, options=None) -> Path:
    segnet.train(load_config(recipe(tmp / f"{run_dir.name}.yaml", data, run_dir, options), list(overrides)))
    return run_dir


@pytest.fixture
def data(tmp_path) -> Path:
    return build_dataset(tmp_path / "DS")


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- data
def test_crop_larger_than_the_datasets_frames(tmp_path):
    data = build_dataset(tmp_path / "DS", height=60, width=80)
    run = tmp_path / "runs" / "run"
    proc = segnet_cli("train", "--config", recipe(tmp_path / "r.yaml", data, run), "data.scale=0.5", cwd=tmp_path)
    one_error_line(proc, "train.crop_size", "= 32", "30x40", "data.scale=0.5", data)
    assert not (tmp_path / "runs").exists()  # the failed start removed what it created


def test_truncated_frame_read_by_loader_workers(tmp_path, data):
    frame = data / "train" / "f1.png"
    frame.write_bytes(frame.read_bytes()[:200])
    run = tmp_path / "runs" / "run"
    proc = segnet_cli("train", "--config", recipe(tmp_path / "r.yaml", data, run), "data.num_workers=2", cwd=tmp_path)
    one_error_line(proc, frame)
    assert "DataLoader worker" not in proc.stderr
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- disks
def _root() -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")


@contextmanager
def tmpfs(folder: Path, size: str):
    _root()
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Take all but ``leave`` bytes of ``folder``'s file system."""
    st = os.statvfs(folder)
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


def test_disk_full_in_a_checkpoint_write_keeps_last_pt(tmp_path, data):
    with tmpfs(tmp_path / "small", "8m") as small:
        run = train_in_process(tmp_path, data, small / "run", "val_every=5")
        before = (run / "last.pt").read_bytes()
        assert len(before) > 32 * 1024  # the space left below must not hold a checkpoint
        fill(small, leave=16 * 1024)
        proc = segnet_cli("train", "--resume", run, "train.epochs=3", cwd=tmp_path)  # epoch 2 not validated
        one_error_line(proc, f"cannot write {run / 'last.pt'}: no space left on device",
                       "(previous last.pt kept, epoch 1)")
        assert (run / "last.pt").read_bytes() == before
        assert load_checkpoint(run / "last.pt")["epoch"] == 1
        assert temporaries(run) == []


def test_disk_full_in_predict_names_the_cause(tmp_path, data):
    run = train_in_process(tmp_path, data, tmp_path / "run")
    with tmpfs(tmp_path / "small", "256k") as small:
        fill(small, leave=8 * 1024)
        proc = segnet_cli("predict", "--checkpoint", run / "best.pt", "--backend", "torch", data / "val" / "f0.png",
                          "--out", small / "out", cwd=tmp_path)
        one_error_line(proc, "cannot write", "no space left on device")
        assert sorted(p.name for p in small.iterdir()) == ["filler"]


def test_read_only_run_folder(tmp_path, data):
    with tmpfs(tmp_path / "ro", "8m") as ro:
        run = train_in_process(tmp_path, data, ro / "run")
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        proc = segnet_cli("train", "--resume", run, "train.epochs=2", cwd=tmp_path)
        one_error_line(proc, run, "read-only file system")
        proc = segnet_cli("train", "--config", recipe(tmp_path / "r.yaml", data, ro / "new"), cwd=tmp_path)
        one_error_line(proc, ro / "new", "read-only file system")


# ----------------------------------------------------------------------------- other networks
def test_resume_with_last_pt_of_another_network(tmp_path, data):
    ours = train_in_process(tmp_path, data, tmp_path / "ours")
    other = train_in_process(tmp_path, data, tmp_path / "other", options={**TINY, "growth_rate": 6})
    shutil.copy(other / "last.pt", ours / "last.pt")
    proc = segnet_cli("train", "--resume", ours, "train.epochs=2", cwd=tmp_path)
    one_error_line(proc, ours / "last.pt", ours / "best.pt")
    assert (ours / "last.pt").read_bytes() == (other / "last.pt").read_bytes()  # nothing written


def test_resume_with_options_of_another_network(tmp_path, data):
    run = train_in_process(tmp_path, data, tmp_path / "run")
    before = (run / "last.pt").read_bytes()
    proc = segnet_cli("train", "--resume", run, "train.epochs=2", "model.options.growth_rate=6", cwd=tmp_path)
    assert len(one_error_line(proc, "weights of another network", "size mismatch")) < 400
    assert (run / "last.pt").read_bytes() == before


def test_load_from_another_network(tmp_path, data):
    other = train_in_process(tmp_path, data, tmp_path / "other", options={**TINY, "growth_rate": 6})
    run = tmp_path / "runs" / "run"
    proc = segnet_cli("train", "--config", recipe(tmp_path / "r.yaml", data, run), f"load_from={other / 'best.pt'}",
                      cwd=tmp_path)
    assert len(one_error_line(proc, "load_from", other / "best.pt")) < 400
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- one training per folder
def test_two_trainings_on_one_run_folder(tmp_path, data):
    """Both start at one moment; the winner trains long enough that the loser meets it running, is
    refused by the lock naming the winner's pid, and leaves the winner's folder alone. The winner
    is then SIGKILLed (loader workers alive): the kernel frees the lock at once."""
    run = tmp_path / "runs" / "run"
    config = recipe(tmp_path / "r.yaml", data, run, train={"epochs": 500, "crop_size": 32, "batch_size": 1})
    argv = command("train", "--config", config, "data.num_workers=2")
    procs = [subprocess.Popen(argv, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        deadline = time.monotonic() + 240
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        _, err = loser.communicate()
        done = subprocess.CompletedProcess(argv, loser.returncode, "", err)
        one_error_line(done, run, "in use by another training", f"(pid {winner.pid})")
        while not (run / "metrics.csv").is_file() or len((run / "metrics.csv").read_text().splitlines()) < 3:
            assert winner.poll() is None and time.monotonic() < deadline, winner.communicate()
            time.sleep(0.2)
        winner.send_signal(signal.SIGKILL)
        winner.wait()
        with RunLock(run):  # released by the kernel though the forked workers may still be exiting
            pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    epochs = [line.split(",")[1] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert len(epochs) == len(set(epochs)) >= 2  # one training wrote them, each epoch once
