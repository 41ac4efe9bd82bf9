"""train.schedule / warmup_epochs: the lr each epoch trains with, through a real run and a resume."""

from __future__ import annotations

import math

import pytest
import torch

from segnet.config.load import load_config
from segnet.errors import SegnetError
from segnet.training.optim import lr_factor, make_scheduler
from segnet.training.stop import TrainingInterrupted
from segnet.training.train import resume, train
from tests.training.test_train import read_rows, tiny_config


def lrs(stage_overrides: list[str], epochs: int) -> list[float]:
    """The lr of each epoch as the scheduler sets it (stepped after each epoch, as training does)."""
    cfg = load_config(None, [f"train.epochs={epochs}", *stage_overrides])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.train.lr)
    sched, out = make_scheduler(opt, cfg.train), []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_exponential_is_unchanged_and_warm_up_ramps_linearly():
    assert lrs(["train.lr=1", "train.lr_decay=0.5"], 4) == pytest.approx([1, 0.5, 0.25, 0.125])
    assert lrs(["train.lr=1", "train.lr_decay=0.5", "train.warmup_epochs=2"], 5) == pytest.approx(
        [1 / 3, 2 / 3, 1, 0.5, 0.25])


def test_cosine_and_poly_fall_towards_zero_at_the_last_epoch():
    cos = lrs(["train.lr=1", "train.schedule=cosine", "train.warmup_epochs=1"], 5)
    assert cos == pytest.approx([0.5, 1, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))])
    poly = lrs(["train.lr=1", "train.schedule=poly"], 4)
    assert poly == pytest.approx([(1 - e / 4) ** 0.9 for e in range(4)])
    assert all(a > b for a, b in zip(poly, poly[1:])) and poly[-1] > 0
    assert lr_factor(10, "cosine", 4, 0, 0.9) == 0.0  # past the end (a resume with fewer epochs): stays at 0


def test_warm_up_must_leave_epochs_for_the_schedule():
    with pytest.raises(SegnetError, match=r"train.warmup_epochs.*cosine.*train.epochs = 3"):
        load_config(None, ["train.schedule=cosine", "train.warmup_epochs=3", "train.epochs=3"])


def test_a_run_and_its_resume_follow_the_cosine_schedule(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    sched = ["train.schedule=cosine", "train.warmup_epochs=1", "train.epochs=3", "train.lr=0.01", "optim.name=sgd",
             "optim.momentum=0.9"]
    with pytest.raises(TrainingInterrupted):  # stops in the middle of epoch 2 (2 steps per epoch)
        train(tiny_config(camvid_root, run_dir, *sched, "debug.interrupt_at_step=3"))
    resume(run_dir, ["debug.interrupt_at_step=null"])
    got = [float(r["lr"]) for r in read_rows(run_dir)]
    assert got == pytest.approx([0.005, 0.01, 0.005], rel=1e-5), got


def test_resuming_under_another_schedule_is_one_line(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(camvid_root, run_dir, "train.epochs=1"))
    with pytest.raises(SegnetError) as err:
        resume(run_dir, ["train.epochs=3", "train.schedule=cosine"])
    assert "train.schedule" in str(err.value) and "\n" not in str(err.value)


def test_start_epoch_continues_a_schedule_where_a_lost_run_left_it():
    whole = lrs(["train.lr=1", "train.schedule=cosine", "train.warmup_epochs=2"], 6)
    cfg = load_config(None, ["train.lr=1", "train.schedule=cosine", "train.warmup_epochs=2", "train.epochs=6",
                             "train.start_epoch=4"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.train.lr)
    sched, tail = make_scheduler(opt, cfg.train), []
    for _ in range(3):
        tail.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert tail == pytest.approx(whole[3:])
    exp = load_config(None, ["train.lr=1", "train.lr_decay=0.5", "train.epochs=5", "train.start_epoch=3"])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=exp.train.lr)
    make_scheduler(opt, exp.train)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25)
    with pytest.raises(SegnetError, match=r"train.start_epoch.*\[1, train.epochs = 5\]"):
        load_config(None, ["train.epochs=5", "train.start_epoch=6"])


def test_a_run_from_start_epoch_numbers_its_epochs_from_there(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(camvid_root, run_dir, "train.epochs=3", "train.start_epoch=3", "train.lr=0.01",
                      "train.lr_decay=0.5"))
    rows = read_rows(run_dir)
    assert [r["epoch"] for r in rows] == ["3"] and float(rows[0]["lr"]) == pytest.approx(0.0025)
