"""metrics.csv's cpu_minutes: CPU (not wall) time of the training process and its workers, carried
across resumes in the checkpoint, empty where unknown; old metrics.csv files get the new header."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.training.cpu_time import CpuClock, process_tree_cpu_seconds
from segnet.training.run_dir import RunLog, columns, epoch_row
from segnet.training.train import resume, train
from tests.training.test_train import read_rows, tiny_config


def test_sleeping_costs_no_cpu_and_working_does():
    start = process_tree_cpu_seconds()
    time.sleep(0.5)
    assert process_tree_cpu_seconds() - start < 0.25  # a wall clock would have moved 0.5
    start, t0 = process_tree_cpu_seconds(), time.process_time()
    while time.process_time() - t0 < 0.3:
        pass
    assert process_tree_cpu_seconds() - start >= 0.29


def test_live_and_finished_children_are_counted():
    """Data loader workers are children: their CPU time is the training's too."""
    busy = ("import time, sys\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
            "print('ready', flush=True)\nsys.stdin.read()\n")
    start = process_tree_cpu_seconds()
    child = subprocess.Popen([sys.executable, "-c", busy], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert process_tree_cpu_seconds() - start >= 0.4  # alive: read from the child itself
    finally:
        child.communicate("")
    assert process_tree_cpu_seconds() - start >= 0.4  # reaped: in this process's children times


def test_unknown_stays_unknown():
    assert CpuClock.resumed({"epoch": 3}, distributed=False).minutes is None  # checkpoint from before the column
    assert CpuClock.resumed(None, distributed=True).minutes is None  # other ranks are not visible here
    assert CpuClock.resumed({"cpu_seconds": 120.0}, distributed=False).minutes >= 2.0
    clock = CpuClock()
    assert 0 <= clock.minutes <= clock.minutes  # never backwards


def test_cpu_minutes_grow_and_continue_across_a_resume(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(camvid_root, run_dir, "train.epochs=2"))
    two = [float(r["cpu_minutes"]) for r in read_rows(run_dir)]
    assert len(two) == 2 and 0 < two[0] < two[1], two
    saved = load_checkpoint(run_dir / "last.pt")["cpu_seconds"]
    assert abs(saved / 60 - two[1]) < 0.05, (saved, two)

    resume(run_dir, ["train.epochs=3"])
    three = [float(r["cpu_minutes"]) for r in read_rows(run_dir)]
    assert three[:2] == two
    # a clock that restarted with the process would show one epoch's CPU here, less than two epochs'
    assert three[2] > three[1], three


def test_a_metrics_csv_without_the_column_is_rewritten_under_the_new_header(tmp_path):
    old = [c for c in columns(["Sky", "Road"]) if c != "cpu_minutes"]
    with (tmp_path / "metrics.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=old)
        w.writeheader()
        w.writerow({"stage": "train", "epoch": 1, "step": 2, "train_loss": 1.5, "val_miou": 0.25})
    log = RunLog(tmp_path, tensorboard=False, class_names=["Sky", "Road"])
    result = {"miou": 0.5, "pixel_accuracy": 0.8, "mean_class_accuracy": 0.6, "per_class_iou": [0.4, 0.6]}
    log.epoch(epoch_row("train", 2, 4, 1e-3, 1.2, result, 3.0, 10.0, 0.5, ["Sky", "Road"], cpu_minutes=0.4), 4)
    with (tmp_path / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == columns(["Sky", "Road"])
    assert (rows[0]["epoch"], rows[0]["val_miou"], rows[0]["cpu_minutes"]) == ("1", "0.25", "")
    assert (rows[1]["epoch"], rows[1]["iou_Road"], rows[1]["cpu_minutes"]) == ("2", "0.6", "0.4")
