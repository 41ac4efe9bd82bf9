"""Crash-safe training: SIGKILL at random moments (in an epoch, in a checkpoint write), stop
signals delivered from inside an optimizer step, a backward pass or a validation batch (SIGINT
and SIGTERM, to the process or its whole process group, 0 or 2 DataLoader workers), a second
signal during the save, and a DataLoader worker that dies; every resume ends with exactly the
weights of an uninterrupted run.

After every kill each checkpoint on disk loads, last.pt never goes backwards, and at most the
epoch in progress is lost. A tiny FC-DenseNet in deterministic mode on 8 real CamVid frames
(64x64 crops of quarter-size frames, 4 steps per epoch) keeps it to seconds of compute.

The processes run ``segnet``'s main() through tests/training/crash_harness.py, which can slow
``os.fsync`` (a checkpoint write becomes a window wide enough to be hit on purpose) and send a
signal from inside a chosen call. Each runs in its own session, so ``os.killpg`` reaches it and
its workers only.
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

from segnet.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
from segnet.config.load import load_config
from segnet.training.train import train

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("crash_harness.py")
EPOCHS = 6
SLOW_FSYNC = 0.3


def recipe(path: Path, camvid_root: Path, run_dir: Path, workers: int = 0, epochs: int = EPOCHS) -> Path:
    path.write_text(yaml.safe_dump({
        "model": {"name": "fc_densenet",
                  "options": {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}},
        "data": {"root": str(camvid_root), "limit_train": 8, "limit_val": 2, "scale": 0.25, "num_workers": workers},
        "train": {"epochs": epochs, "crop_size": 64, "batch_size": 2},
        "finetune": {"enabled": False},
        "loss": {"class_weights": "none"},
        "deterministic": True,
        "progress": False,
        "threads": 1,
        "run_dir": str(run_dir),
    }))
    return path


_REFERENCES: dict = {}


@pytest.fixture(scope="module")
def references(camvid_root, tmp_path_factory):
    """(workers, epochs) -> the final weights of the same run, never interrupted (in this process).
    Workers reseed augmentation per worker, so 0 and 2 workers draw different crops."""

    def get(workers: int = 0, epochs: int = EPOCHS) -> dict:
        if (workers, epochs) not in _REFERENCES:
            tmp = tmp_path_factory.mktemp(f"reference{workers}")
            try:
                train(load_config(recipe(tmp / "recipe.yaml", camvid_root, tmp / "run", workers, epochs)))
            finally:  # the run set 1 thread and deterministic mode
                torch.set_num_threads(min(2, os.cpu_count() or 1))
                torch.use_deterministic_algorithms(False)
            ckpt = load_checkpoint(tmp / "run" / "last.pt")
            assert ckpt["finished"] and ckpt["epoch"] == epochs
            _REFERENCES[workers, epochs] = ckpt["model"]
        return _REFERENCES[workers, epochs]

    return get


@pytest.fixture(scope="module")
def reference(references) -> dict:
    return references(0)


def start(*argv, slow_fsync: float = 0.0, **hooks: str) -> subprocess.Popen:
    """The harness in a session of its own (its process group: it and its DataLoader workers)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SEGNET_DEBUG", "SIGNAL_AT", "MARK_AT")}
    env.update(OMP_NUM_THREADS="1", SLOW_FSYNC=str(slow_fsync), **hooks)
    return subprocess.Popen([sys.executable, str(HARNESS), *map(str, argv)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


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
            alive = wait_for(proc, lambda seen=seen: last_epoch(run_dir) > seen, "an epoch to finish", poll=0.05)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            stale = torn_writes(run_dir)  # left by an earlier kill; the resumed run deletes them
            alive = wait_for(proc, lambda stale=stale: bool(torn_writes(run_dir) - stale), "a checkpoint write")
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


def interrupted_line(run_dir: Path) -> str:
    return f"segnet: interrupted; resumable state in {run_dir}/last.pt (segnet train --resume {run_dir})"


def assert_one_interrupted_line(proc: subprocess.Popen, run_dir: Path) -> None:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err + out and err.strip() == interrupted_line(run_dir), err


def resume_to_the_end(run_dir: Path, want: dict, epochs: int = EPOCHS) -> None:
    resumed = start("train", "--resume", run_dir)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0 and "Traceback" not in err, err
    final = load_checkpoint(run_dir / "last.pt")
    assert final["finished"] and final["epoch"] == epochs
    assert_same_weights(final["model"], want)
    assert not list(run_dir.glob(".*.tmp"))


def test_ctrl_c_writes_a_resumable_checkpoint_and_resume_finishes(references, camvid_root, tmp_path):
    """A signal at a random moment (by the clock, as a user's Ctrl-C)."""
    run_dir = tmp_path / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir, epochs=3)
    proc = start("train", "--config", config)
    assert wait_for(proc, lambda: last_epoch(run_dir) >= 1, "the first epoch", poll=0.05), proc.communicate()
    time.sleep(random.uniform(0.0, 0.5))
    proc.send_signal(signal.SIGINT)
    assert_one_interrupted_line(proc, run_dir)
    stopped = load_checkpoint(run_dir / "last.pt")
    assert not stopped["finished"] and stopped["step"] >= 4
    assert not list(run_dir.glob(".*.tmp"))
    resume_to_the_end(run_dir, references(0, 3), epochs=3)


# (where the signal is sent from, the call of it, signal, to whom, DataLoader workers)
MOMENTS = [
    ("step", 5, "SIGINT", "process", 0),
    ("backward", 6, "SIGTERM", "group", 0),
    ("step", 1, "SIGTERM", "group", 2),  # first epoch, first step: the run directory stays
    ("backward", 7, "SIGINT", "group", 2),
    ("validate", 3, "SIGTERM", "process", 2),  # epoch 2, between its two validation frames
    ("validate", 1, "SIGINT", "group", 0),
]


@pytest.mark.parametrize("where,call,sig,to,workers", MOMENTS, ids=["-".join(map(str, m)) for m in MOMENTS])
def test_signal_from_inside_a_step_stops_after_it_and_resumes_exactly(
        references, camvid_root, tmp_path, where, call, sig, to, workers):
    run_dir = tmp_path / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir, workers, epochs=3)
    proc = start("train", "--config", config, SIGNAL_AT=f"{where}:{call}:{sig}:{to}")
    assert_one_interrupted_line(proc, run_dir)
    stopped = load_checkpoint(run_dir / "last.pt")
    if where == "validate":  # epoch `call // 2 + 1` trained in full, its validation cut short
        epoch = (call + 1) // 2
        assert (stopped["step"], stopped["epoch"], stopped["batch_in_epoch"]) == (4 * epoch, epoch - 1, 4)
    else:  # the step the signal came in finished, with its counters, and nothing after it
        assert (stopped["step"], stopped["batch_in_epoch"]) == (call, (call - 1) % 4 + 1)
    resume_to_the_end(run_dir, references(workers, 3), epochs=3)


def test_signal_during_set_up_stops_at_once_and_leaves_no_run_directory(camvid_root, tmp_path):
    run_dir = tmp_path / "runs" / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir, workers=2)
    proc = start("train", "--config", config, SIGNAL_AT="setup:1:SIGTERM:group")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip() == "segnet: interrupted", err
    assert not (tmp_path / "runs").exists()  # nothing to resume: the run directory it created is gone


def test_second_signal_during_the_save_exits_at_once(references, camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir, epochs=3)
    proc = start("train", "--config", config, slow_fsync=1.0, SIGNAL_AT="step:6:SIGINT:process")
    assert wait_for(proc, lambda: last_epoch(run_dir) >= 1 and bool(torn_writes(run_dir)), "the stop's save")
    proc.send_signal(signal.SIGINT)
    assert_one_interrupted_line(proc, run_dir)
    assert last_epoch(run_dir) == 1  # the old last.pt (end of epoch 1), whole
    resume_to_the_end(run_dir, references(0, 3), epochs=3)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_dataloader_worker_killed_is_one_error_line_and_last_pt_kept(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    config = recipe(tmp_path / "recipe.yaml", camvid_root, run_dir, workers=2, epochs=3)
    mark = tmp_path / "in_step_6"
    proc = start("train", "--config", config, MARK_AT=f"step:6:{mark}:30")
    assert wait_for(proc, mark.exists, "step 6"), proc.communicate()
    workers = _children(proc.pid)
    assert workers, "no DataLoader worker found"
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("segnet: error: a data loader process died") and f"{run_dir}/last.pt" in err, err
    assert load_checkpoint(run_dir / "last.pt")["step"] == 4  # the end of epoch 1, untouched
