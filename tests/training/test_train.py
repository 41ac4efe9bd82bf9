"""segnet train on real CamVid frames with a tiny FC-DenseNet (64x64 crops of quarter-size
frames, a few steps): the loss drops, 2 frames can be overfit, runs resume exactly, NaN and
Ctrl-C leave a usable checkpoint, and the run directory holds what DESIGN.md promises."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
from segnet.checkpoints.shards import shard_files
from segnet.config.load import load_config
from segnet.training.train import resume, train

TINY = "{growth_rate: 4, down_layers: [2, 2], bottleneck_layers: 2, first_channels: 8}"


def tiny_overrides(camvid_root: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "model.name=fc_densenet",
        f"model.options={TINY}",
        f"data.root={camvid_root}",
        "data.limit_train=8",
        "data.limit_val=1",
        "data.scale=0.25",  # 90x120 frames
        "data.num_workers=0",
        "train.crop_size=64",
        "train.batch_size=4",  # 2 steps per epoch
        "train.epochs=2",
        "finetune.enabled=false",
        "loss.class_weights=none",
        "progress=false",
        "threads=1",  # two threads on two busy cores spin-wait: 10x slower than one
        f"run_dir={run_dir}",
        *extra,
    ]


def tiny_config(camvid_root, run_dir, *extra):
    return load_config(None, tiny_overrides(camvid_root, run_dir, *extra))


def read_rows(run_dir: Path) -> list[dict]:
    import csv

    with (run_dir / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_loss_drops_and_run_dir_is_complete(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    summary = train(tiny_config(camvid_root, run_dir, "train.epochs=4", "finetune.enabled=true",
                                "finetune.epochs=1", "finetune.batch_size=4", "loss.class_weights=median_frequency"))
    assert summary["stopped"] == "completed"
    rows = read_rows(run_dir)
    assert [(r["stage"], r["epoch"]) for r in rows] == [("train", str(e)) for e in range(1, 5)] + [("finetune", "1")]
    losses = [float(r["train_loss"]) for r in rows[:4]]
    assert losses[-1] < losses[0], losses
    assert all(0 <= float(r["val_miou"]) <= 1 and float(r["images_per_s"]) > 0 for r in rows)
    assert abs(float(rows[1]["lr"]) - 1e-3 * 0.995) < 1e-12  # x0.995 per epoch
    for name in ("config.yaml", "curves.png", "last.pt", "best.pt", "best_train.pt", "best_finetune.pt"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())

    ckpt = load_checkpoint(run_dir / "last.pt")  # weights_only=True
    for key in ("model", "model_name", "model_options", "num_classes", "class_names", "palette", "input_scale",
                "normalization", "meta", "optimizer", "scheduler", "scaler", "epoch", "step", "early_stopping",
                "rng", "config"):
        assert key in ckpt, key
    assert ckpt["input_scale"] == 0.25 and ckpt["num_classes"] == 11 and len(ckpt["palette"]) == 12
    assert ckpt["frame_size"] == [90, 120]  # CamVid's 360x480 frames as the network saw them (inference rescales to it)
    assert ckpt["finished"] and ckpt["stage"] == "finetune" and ckpt["step"] == 8 + 2
    assert ckpt["config"]["data"]["scale"] == 0.25
    best = load_checkpoint(run_dir / "best.pt")
    assert math.isclose(best["meta"]["val_miou"], max(float(r["val_miou"]) for r in rows), rel_tol=1e-5)
    model = model_from_checkpoint(best)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 11, 64, 64)
    # a finished run resumes to "already finished"
    assert resume(run_dir)["stopped"] == "already finished"


def test_overfits_two_frames(camvid_root, tmp_path):
    """Whole 45x60 frames, no flips, no dropout, Adam: after 100 steps the mIoU of those 2 frames,
    scored on their full 360x480 labels, is high (about 0.75; 0.15 at the start, and about
    0.98 at 45x60, the low-resolution upsampling costs the rest)."""
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        camvid_root, run_dir,
        "model.options={growth_rate: 8, down_layers: [2, 2], bottleneck_layers: 2, first_channels: 16, dropout: 0.0}",
        "data.scale=0.125", "data.limit_train=2", "data.limit_val=2", "data.val_split=train", "data.hflip=false",
        "train.crop_size=null", "train.batch_size=2", "train.epochs=100", "train.lr=1e-2", "train.lr_decay=1.0",
        "optim.name=adam", "optim.weight_decay=0", "val_every=100",
    )
    train(cfg)
    rows = read_rows(run_dir)
    assert len(rows) == 100 and [r["val_miou"] != "" for r in rows].count(True) == 1
    miou = float(rows[-1]["val_miou"])
    assert miou >= 0.6, f"train mIoU on 2 frames only {miou:.3f}"


@pytest.mark.parametrize("preload", [False, True])
def test_resume_mid_epoch_and_at_boundary_matches_uninterrupted(camvid_root, tmp_path, preload):
    extra = ("deterministic=true", "train.epochs=3", f"data.preload_to_device={str(preload).lower()}")
    straight = tmp_path / "straight"
    train(tiny_config(camvid_root, straight, *extra))
    want = load_checkpoint(straight / "last.pt")["model"]

    # Ctrl-C after step 3 (epoch 2 of 3, one batch in), then resume.
    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(camvid_root, stopped, *extra, "debug.interrupt_at_step=3"))
    mid = load_checkpoint(stopped / "last.pt")
    assert (mid["epoch"], mid["batch_in_epoch"], mid["step"]) == (1, 1, 3)
    resume(stopped, ["debug.interrupt_at_step=null"])
    got = load_checkpoint(stopped / "last.pt")
    assert got["step"] == 6
    for k in want:
        assert torch.equal(want[k], got["model"][k]), k

    if not preload:  # time budget: stops at an epoch boundary, resumes from there
        budget = tmp_path / "budget"
        summary = train(tiny_config(camvid_root, budget, *extra, "max_minutes=0.0001"))
        assert summary["stopped"] == "time budget"
        assert load_checkpoint(budget / "last.pt")["epoch"] == 1 and (budget / "best.pt").is_file()
        resume(budget, ["max_minutes=null"])
        got = load_checkpoint(budget / "last.pt")["model"]
        assert all(torch.equal(want[k], got[k]) for k in want)
        assert [r["epoch"] for r in read_rows(budget)] == ["1", "2", "3"]


def test_chunks_with_sharded_checkpoints_resume_exactly(camvid_root, tmp_path):
    """max_minutes chunks (each stops after one epoch) with sharded state end where one run ends."""
    extra = ("deterministic=true", "train.epochs=3")
    straight = tmp_path / "straight"
    train(tiny_config(camvid_root, straight, *extra))
    want = load_checkpoint(straight / "last.pt")["model"]

    chunked = tmp_path / "chunked"
    summary = train(tiny_config(camvid_root, chunked, *extra, "checkpoint.shard_mb=0.05", "max_minutes=0.0001"))
    chunks = 1
    while summary["stopped"] == "time budget":
        state = load_checkpoint(chunked / "last.pt")
        assert state["epoch"] == chunks and len(shard_files(chunked / "last.pt")) >= 3
        summary = resume(chunked, ["max_minutes=0.0001"])
        chunks += 1
    assert chunks == 3 and summary["stopped"] == "completed"
    got = load_checkpoint(chunked / "last.pt")
    assert got["finished"] and got["step"] == 6
    for key in want:
        assert torch.equal(want[key], got["model"][key]), key
    assert [r["epoch"] for r in read_rows(chunked)] == ["1", "2", "3"]
    assert all(p.stat().st_size <= 0.05 * 2**20 for p in chunked.glob("*.shard"))


def test_resume_with_more_epochs_trains_them(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(camvid_root, run_dir, "deterministic=true"))
    assert resume(run_dir, ["train.epochs=2"])["stopped"] == "already finished"
    assert resume(run_dir, ["train.epochs=3"])["stopped"] == "completed"
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["finished"] and ckpt["epoch"] == 3 and ckpt["step"] == 6
    assert [r["epoch"] for r in read_rows(run_dir)] == ["1", "2", "3"]


def test_load_from_starts_from_given_weights_and_refuses_other_models(camvid_root, tmp_path):
    from segnet.errors import SegnetError
    from segnet.training.distributed import DistInfo
    from segnet.training.network import build_network

    first = tmp_path / "first"
    train(tiny_config(camvid_root, first, "train.epochs=1"))
    trained = load_checkpoint(first / "best.pt")["model"]
    cfg = tiny_config(camvid_root, tmp_path / "second", f"load_from={first / 'best.pt'}")
    net = build_network(cfg, 11, torch.device("cpu"), DistInfo())
    assert all(torch.equal(net.raw.state_dict()[k], v) for k, v in trained.items())
    fresh = build_network(tiny_config(camvid_root, tmp_path / "third"), 11, torch.device("cpu"), DistInfo())
    assert not all(torch.equal(fresh.raw.state_dict()[k], v) for k, v in trained.items())
    # a run from it trains on (its own schedule, epoch 1) and keeps load_from in its config
    summary = train(cfg)
    assert summary["stopped"] == "completed" and read_rows(tmp_path / "second")[0]["epoch"] == "1"
    assert load_checkpoint(tmp_path / "second" / "best.pt")["config"]["load_from"] == str(first / "best.pt")

    with pytest.raises(SegnetError, match=r"load_from .*best.pt: it holds fc_densenet with 11 classes, "
                                          r"this run trains fc_densenet with 5"):
        build_network(cfg, 5, torch.device("cpu"), DistInfo())  # a dataset with other classes
    wider = TINY.replace("growth_rate: 4", "growth_rate: 6")
    with pytest.raises(SegnetError,
                       match=r"load_from .*best.pt: its weights do not fit this run's fc_densenet options"):
        build_network(tiny_config(camvid_root, tmp_path / "y", f"model.options={wider}",
                                  f"load_from={first / 'best.pt'}"),
                      11, torch.device("cpu"), DistInfo())
    with pytest.raises(SegnetError, match=r"load_from: checkpoint not found: .*missing.pt"):
        build_network(tiny_config(camvid_root, tmp_path / "z", f"load_from={tmp_path / 'missing.pt'}"),
                      11, torch.device("cpu"), DistInfo())


def test_relative_paths_are_stored_absolute(camvid_root, tmp_path, monkeypatch):
    """A run started with relative data.root and run_dir resumes from another folder."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "camvid").symlink_to(camvid_root)
    monkeypatch.chdir(tmp_path / "work")
    recipe = Path(__file__).parents[2] / "configs" / "fc_densenet56.yaml"
    run = segnet.train(load_config(recipe, [*tiny_overrides(Path("camvid"), Path("runs/relative"), "train.epochs=1"),
                                            "device=cpu"]))
    run_dir = tmp_path / "work" / "runs" / "relative"
    assert run.run_dir == run_dir and run.stopped == "completed"
    config = load_checkpoint(run_dir / "last.pt")["config"]
    assert config["data"]["root"] == str(tmp_path / "work" / "camvid")
    assert config["run_dir"] == str(run_dir) and config["device"] == "cpu"
    monkeypatch.chdir(tmp_path)
    assert segnet.resume(run_dir, ["train.epochs=2"]).stopped == "completed"
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 2


def test_val_bn_batch_scores_with_batch_statistics_and_leaves_the_model_untouched(camvid_root, tmp_path):
    from segnet.core.metrics import SegmentationMetrics
    from segnet.data import CamVid, eval_transform
    from segnet.inference.forward import forward_logits, use_batch_statistics

    states = {}
    for mode in ("running", "batch"):
        run_dir = tmp_path / mode
        train(tiny_config(camvid_root, run_dir, "deterministic=true", "train.epochs=1", "data.limit_val=2",
                          "data.val_batch_size=2", f"val_bn={mode}"))
        states[mode] = (load_checkpoint(run_dir / "last.pt")["model"], float(read_rows(run_dir)[0]["val_miou"]))
    for key, value in states["running"][0].items():  # validation changed no weight and no BN buffer
        assert torch.equal(value, states["batch"][0][key]), key

    model = model_from_checkpoint(load_checkpoint(tmp_path / "batch" / "last.pt"))
    use_batch_statistics(model)
    val = CamVid(camvid_root, "val", transform=eval_transform((0, 0, 0), (1, 1, 1)))
    images = torch.stack([val[i][0] for i in range(2)])
    masks = torch.stack([val[i][1] for i in range(2)])
    metrics = SegmentationMetrics(11, ignore_index=11)
    metrics.update(forward_logits(model, images, input_scale=0.25), masks)
    # rel 1e-3: on AMX CPUs validation runs in bf16 autocast (amp auto), this re-score in float32
    assert math.isclose(metrics.compute()["miou"], states["batch"][1], rel_tol=1e-3)
    assert states["batch"][1] != states["running"][1]


def test_stop_while_a_resume_re_reads_its_batches_keeps_last_pt(camvid_root, tmp_path, monkeypatch):
    """A signal before the first step of a resumed epoch: nothing to save, last.pt stays as it was."""
    import signal as signals

    from segnet.training.batches import TrainData
    from segnet.training.stop import TrainingInterrupted

    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(camvid_root, run_dir, "debug.interrupt_at_step=3"))  # epoch 2, one batch in
    before = (run_dir / "last.pt").read_bytes()
    real_epoch = TrainData.epoch

    def epoch_then_signal(self, *args):
        for batch in real_epoch(self, *args):
            os.kill(os.getpid(), signals.SIGINT)  # the handler only sets the flag
            yield batch

    monkeypatch.setattr(TrainData, "epoch", epoch_then_signal)
    with pytest.raises(TrainingInterrupted):
        resume(run_dir, ["debug.interrupt_at_step=null"])
    assert (run_dir / "last.pt").read_bytes() == before


def test_nan_loss_stops_with_one_error_and_keeps_last_good(camvid_root, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(segnet.SegnetError, match="loss is nan at train epoch 2, step 3.*last good checkpoint kept"):
        train(tiny_config(camvid_root, run_dir, "debug.nan_at_step=3"))
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["step"] == 2 and ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def _as_background_job():
    """A shell starts background jobs with SIGINT ignored; training must still stop on it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_writes_resumable_checkpoint(camvid_root, tmp_path, stop_signal):
    run_dir = tmp_path / "run"
    env = dict(os.environ, SEGNET_DATA_ROOT=str(camvid_root), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "segnet", "train", "--config", "configs/fc_densenet56.yaml",
         *tiny_overrides(camvid_root, run_dir, "train.epochs=1000", "threads=1")],
        cwd=Path(__file__).parents[2], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_background_job,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.5)
    proc.send_signal(stop_signal)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segnet: interrupted") and str(run_dir) in lines[0], err
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["step"] >= 2
    done = ckpt["epoch"] + 1
    summary = resume(run_dir, [f"train.epochs={done}"])
    assert summary["stopped"] == "completed"
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == done


def test_weight_decay_on_conv_weights_only():
    from segnet.models import create_model
    from segnet.training.optim import param_groups

    model = create_model("fc_densenet", 11, growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
    decay, plain = param_groups(model, 1e-4)
    conv_weights = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)}
    assert {id(p) for p in decay["params"]} == conv_weights
    assert decay["weight_decay"] == 2e-4 and plain["weight_decay"] == 0  # d/dw of 1e-4 * sum(w**2)
    assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters()))
