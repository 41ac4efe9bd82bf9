"""Crash-safe training: SIGKILL at random moments (in an epoch, in a checkpoint write) and Ctrl-C,
each followed by ``segnet train --resume RUN_DIR``, end with the weights of an uninterrupted run.

After every kill each checkpoint on disk loads, last.pt never goes backwards, and at most the
epoch in progress is lost. A tiny FC-DenseNet in deterministic mode on 8 real CamVid frames
(64x64 crops of quarter-size frames, 4 steps per epoch) keeps it to seconds of compute.

The killed processes run ``segnet``'s main() with ``os.fsync`` slowed down (SLOW_FSYNC seconds),
so that a checkpoint write is a window wide enough to be hit on purpose: the temporary file
``.last.pt.*.tmp`` is complete but not yet renamed over last.pt when the kill lands.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from segnet.config import load_config
from segnet.core.checkpoint import load_checkpoint, model_from_checkpoint
from segnet.training.train import train

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 6
SLOW_FSYNC = 0.3
# main() with os.fsync slowed down: checkpoint writes become wide windows for a kill.
HARNESS = """
import os, sys, time
_fsync = os.fsync
def _slow_fsync(fd):
    time.sleep(float(os.environ.get("SLOW_FSYNC", "0")))
    _fsync(fd)
os.fsync = _slow_fsync
from segnet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def recipe(path: Path, camvid_root: Path, run_dir: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "model": {"name": "fc_densenet",
                  "options": {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}},
        "data": {"root": str(camvid_root), "limit_train": 8, "limit_val": 1, "scale": 0.25, "num_workers": 0},
        "train": {"epochs": EPOCHS, "crop_size": 64, "batch_size": 2},
        "finetune": {"enabled": False},
        "loss": {"class_weights": "none"},
        "deterministic": True,
        "progress": False,
        "threads": 1,
        "run_dir": str(run_dir),
    }))
    return path


@pytest.fixture(scope="module")
def reference(camvid_root, tmp_path_factory) -> dict:
    """The final weights of the same run, never interrupted (in this process)."""
    tmp = tmp_path_factory.mktemp("reference")
    train(load_config(recipe(tmp / "recipe.yaml", camvid_root, tmp / "run")))
    torch.set_num_threads(min(2, os.cpu_count() or 1))  # the run set 1 thread and deterministic mode
    torch.use_deterministic_algorithms(False)
    ckpt = load_checkpoint(tmp / "run" / "last.pt")
    assert ckpt["finished"] and ckpt["epoch"] == EPOCHS
    return ckpt["model"]


def start(*argv, slow_fsync: float = 0.0) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "SEGNET_DEBUG"}
    env.update(OMP_NUM_THREADS="1", SLOW_FSYNC=str(slow_fsync))
    return subprocess.Popen([sys.executable, "-c", HARNESS, *map(str, argv)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_EPOCHS: dict = {}


def last_epoch(run_dir: Path) -> int:
    """The epoch last.pt holds (read again only when the file changed)."""
    path = run_dir / "last.pt"
    try:
        stat = path.stat()
    except FileNotFoundError:
        return 0
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in _EPOCHS:
        _EPOCHS[key] = int(load_checkpoint(path)["epoch"])
    return _EPOCHS[key]


def torn_writes(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.glob(".last.pt.*.tmp")}


def wait_for(proc: subprocess.Popen, condition, what: str, timeout: float = 300, poll: float = 0.01) -> bool:
    """Poll ``condition()`` until true; False when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}: {proc.communicate()}")


def logged_epochs(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return 0
    with path.open(newline="") as f:
        return max((int(r["epoch"]) for r in csv.DictReader(f)), default=0)


def check_after_kill(run_dir: Path, epoch_before: int) -> int:
    """Every checkpoint loads; last.pt did not go back; at most the epoch in progress is lost."""
    for path in sorted(run_dir.glob("*.pt")):
        ckpt = load_checkpoint(path)  # weights_only=True; a torn file would fail here
        model_from_checkpoint(ckpt, str(path))
        assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point()), path
    epoch = last_epoch(run_dir)
    assert epoch >= epoch_before, (epoch, epoch_before)
    assert logged_epochs(run_dir) <= epoch + 1  # the csv row of the lost epoch at most
    return epoch


def assert_same_weights(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_sigkill_at_random_moments_then_resume_matches_uninterrupted(reference, camvid_root, tmp_path):
    rng = random.Random(6)
    run_dir = tmp_path / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir)
    kills, hit_write, epoch = 0, 0, 0
    proc = start("train", "--config", config, slow_fsync=SLOW_FSYNC)
    # alternate: a random moment in an epoch, then the moment a last.pt is being written
    for round_ in range(4):
        if round_ % 2 == 0:
            seen = epoch
            alive = wait_for(proc, lambda: last_epoch(run_dir) > seen, "an epoch to finish", poll=0.05)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            stale = torn_writes(run_dir)  # left by an earlier kill; the resumed run deletes them
            alive = wait_for(proc, lambda: bool(torn_writes(run_dir) - stale), "a checkpoint write")
        if not alive:
            break  # the run finished before this kill
        epoch = last_epoch(run_dir)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        hit_write += bool(torn_writes(run_dir))
        epoch = check_after_kill(run_dir, epoch)
        proc = start("train", "--resume", run_dir, slow_fsync=SLOW_FSYNC if round_ < 3 else 0.0)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "done (completed)" in out
    assert kills == 4 and hit_write >= 1, (kills, hit_write)
    final = load_checkpoint(run_dir / "last.pt")
    assert final["finished"] and final["epoch"] == EPOCHS
    assert_same_weights(final["model"], reference)
    assert [int(r) for r in _column(run_dir / "metrics.csv", "epoch")] == list(range(1, EPOCHS + 1))
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))  # resume cleared the torn writes


def _column(path: Path, name: str) -> list[str]:
    with path.open(newline="") as f:
        return [r[name] for r in csv.DictReader(f)]


def test_ctrl_c_writes_a_resumable_checkpoint_and_resume_finishes(reference, camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir)
    proc = start("train", "--config", config)
    assert wait_for(proc, lambda: last_epoch(run_dir) >= 1, "the first epoch", poll=0.05), proc.communicate()
    time.sleep(random.Random(3).uniform(0.05, 0.3))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err + out, err
    assert lines[0] == f"segnet: interrupted; resumable state in {run_dir}/last.pt (segnet train --resume {run_dir})"
    stopped = load_checkpoint(run_dir / "last.pt")
    assert not stopped["finished"] and stopped["step"] >= 4
    assert not list(run_dir.glob(".*.tmp"))

    resumed = start("train", "--resume", run_dir)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0 and "Traceback" not in err, err
    final = load_checkpoint(run_dir / "last.pt")
    assert final["finished"] and final["epoch"] == EPOCHS
    assert_same_weights(final["model"], reference)
