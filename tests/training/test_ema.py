"""ema_decay: the moving average of the weights is what validation scores and checkpoints ship;
the trained weights travel beside it in last.pt, so a resume continues both exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.training.train import resume, train
from tests.training.test_train import read_rows, tiny_config

EMA = ("deterministic=true", "train.epochs=3", "ema_decay=0.5")


def first_val_frame(camvid: Path, root: Path) -> Path:
    """A data root whose val split is CamVid's first val frame, the one data.limit_val=1 validates."""
    for split in ("val", "valannot"):
        (root / split).mkdir(parents=True)
        first = sorted((camvid / split).iterdir())[0]
        (root / split / first.name).symlink_to(first)
    return root


def test_checkpoints_ship_the_average_and_keep_the_trained_weights(camvid_root, tmp_path):
    run_dir = tmp_path / "run"  # stops after epoch 1 (time budget), before a stage end restores best.pt
    train(tiny_config(camvid_root, run_dir, *EMA, "max_minutes=0.0001"))
    last = load_checkpoint(run_dir / "last.pt")
    assert (last["epoch"], last["ema_updates"]) == (1, 2)  # one update per optimizer step
    conv = next(k for k, v in last["model"].items() if v.ndim == 4)
    assert not torch.equal(last["model"][conv], last["training_weights"][conv])  # the average lags the weights
    # the logged val mIoU is the average's: evaluating best.pt (its "model") gives it back
    logged = float(read_rows(run_dir)[0]["val_miou"])
    model = segnet.load_model(run_dir / "best.pt", device="cpu", amp="off", backend="torch")
    scores = segnet.evaluate(model, split="val", data_root=first_val_frame(camvid_root, tmp_path / "one"))
    assert scores.miou == pytest.approx(logged, abs=1e-4)

    plain = tmp_path / "plain"
    train(tiny_config(camvid_root, plain, "deterministic=true", "train.epochs=3", "max_minutes=0.0001"))
    assert "training_weights" not in load_checkpoint(plain / "last.pt")
    # same seed and steps: the trained weights are those of the run without the average
    assert torch.equal(load_checkpoint(plain / "last.pt")["model"][conv], last["training_weights"][conv])


def test_a_stopped_run_resumes_both_weights_exactly(camvid_root, tmp_path):
    """Compared at step 5 (mid epoch 3): before the stage end, where best.pt's weights replace both."""
    straight = tmp_path / "straight"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(camvid_root, straight, *EMA, "debug.interrupt_at_step=5"))
    want = load_checkpoint(straight / "last.pt")

    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(camvid_root, stopped, *EMA, "debug.interrupt_at_step=3"))
    assert load_checkpoint(stopped / "last.pt")["ema_updates"] == 3
    with pytest.raises(KeyboardInterrupt):
        resume(stopped, ["debug.interrupt_at_step=5"])
    got = load_checkpoint(stopped / "last.pt")
    assert got["ema_updates"] == want["ema_updates"] == 5
    conv = next(k for k, v in want["model"].items() if v.ndim == 4)
    assert not torch.equal(want["model"][conv], want["training_weights"][conv])
    for key in want["model"]:
        assert torch.equal(want["model"][key], got["model"][key]), key
        assert torch.equal(want["training_weights"][key], got["training_weights"][key]), key


def test_warmup_lets_the_first_weights_fade_within_hundreds_of_steps():
    """ema_warmup: decay min(d, (1 + n) / (10 + n)) after n updates; without it, d from the start."""
    from torch.optim.swa_utils import AveragedModel

    from segnet.training.network import ema_update

    def average_after(steps: int, warmup: bool) -> float:
        model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
        averaged = AveragedModel(model, multi_avg_fn=ema_update(0.999, warmup))
        for step in range(steps):
            with torch.no_grad():
                model.weight.fill_(0.0 if step == 0 else 1.0)  # the first step's weights 0, every later one 1
            averaged.update_parameters(model)
        return float(averaged.module.weight.detach())

    share_of_first = 1 - average_after(368, warmup=False)
    assert share_of_first == pytest.approx(0.999 ** 367, rel=1e-4)  # 69 %: what the campaign's epoch 4 held
    for steps in (2, 5, 30, 100):
        expected = 1.0
        for n in range(1, steps):  # update n (the first one, n = 0, copies)
            expected *= min(0.999, (1 + n) / (10 + n))
        assert 1 - average_after(steps, warmup=True) == pytest.approx(expected, rel=1e-4)
    assert 1 - average_after(368, warmup=True) < 1e-12
