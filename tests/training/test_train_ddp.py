"""DDP on two CPU processes (gloo, torchrun): after two training steps both ranks hold the
same weights, rank 0 alone writes the run directory, and validation metrics are synced."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from segnet.checkpoints.checkpoint import load_checkpoint

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from segnet.config.load import load_config
    from segnet.training import distributed
    from segnet.training.trainer import Trainer

    root, out = sys.argv[1:3]
    for preload in ("false", "true"):  # DataLoader + DistributedSampler, then frames preloaded on the device
      run_dir = f"{out}/run_{preload}"
      cfg = load_config(None, [
        "model.name=fc_densenet",
        "model.options={growth_rate: 4, down_layers: [2, 2], bottleneck_layers: 2, first_channels: 8}",
        f"data.root={root}", "data.limit_train=8", "data.limit_val=3", "data.scale=0.25",
        "data.num_workers=0", "train.crop_size=64", "train.batch_size=2", "train.epochs=1",
        "finetune.enabled=false", "loss.class_weights=none", "progress=false", "threads=1",
        f"data.preload_to_device={preload}", f"run_dir={run_dir}",
      ])
      info, device = distributed.init_distributed("cpu")
      trainer = Trainer(cfg, run_dir, info, device)
      summary = trainer.fit()
      state = trainer.raw_model.state_dict()
      torch.save({"state": state, "step": trainer.step, "miou": summary["best_miou"]},
                 f"{out}/{preload}_rank{info.rank}.pt")
    distributed.close_distributed()
    """
)


def test_ddp_two_cpu_processes_keep_identical_weights(camvid_root, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(camvid_root), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for preload in ("false", "true"):
        r0 = torch.load(tmp_path / f"{preload}_rank0.pt", weights_only=True)
        r1 = torch.load(tmp_path / f"{preload}_rank1.pt", weights_only=True)
        run_dir = tmp_path / f"run_{preload}"
        # 8 frames / 2 ranks / batch 2 = 2 steps each
        assert r0["step"] == r1["step"] == 2
        assert r0["miou"] == r1["miou"]  # the confusion matrix is summed over ranks
        for k in r0["state"]:
            assert torch.equal(r0["state"][k], r1["state"][k]), k
        ckpt = load_checkpoint(run_dir / "last.pt")
        assert all(torch.equal(ckpt["model"][k], r0["state"][k]) for k in ckpt["model"])
        rows = (run_dir / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) == 2  # header + one epoch, written once
