"""What the commands print around a model: library logs silent unless --verbose, the true count of
calibration frames, one up-front error for data that does not fit the model's classes, batch size 0
refused, and an export suffix that must agree with the format. Each case runs the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import segnet

REPO = Path(__file__).resolve().parents[2]
TINY = {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}


def _segnet(*argv, cwd: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SEGNET_DATA_ROOT", "SEGNET_BACKEND", "SEGNET_VERBOSE")}
    environ.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), **env)
    return subprocess.run([sys.executable, "-m", "segnet", *map(str, argv)], check=False, cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=600)


def _one_error(proc: subprocess.CompletedProcess, *names: str) -> str:
    assert "Traceback" not in proc.stdout + proc.stderr and proc.returncode == 2, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("segnet: error: "), proc
    assert all(name in lines[0] for name in names), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A CamVid-layout folder of 3 train, 1 val, 1 test 32x32 frames (CamVid's classes)."""
    root = tmp_path_factory.mktemp("msg") / "CamVid"
    rng = np.random.default_rng(0)
    for split, count in {"train": 3, "val": 1, "test": 1}.items():
        for i in range(count):
            for folder, array in ((split, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)),
                                  (f"{split}annot", rng.integers(0, 11, (32, 32), dtype=np.uint8))):
                (root / folder).mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(root / folder / f"f{i}.png"), array)
    return root


@pytest.fixture(scope="module")
def ckpt(data) -> Path:
    from segnet.checkpoints.checkpoint import model_fields, save_checkpoint
    from segnet.models import create_model

    torch.manual_seed(0)
    fields = model_fields(create_model("fc_densenet", 11, **TINY), "fc_densenet", TINY)
    path = data.parent / "tiny.pt"
    save_checkpoint(path, {**fields, "config": {"data": {"root": str(data)}}})
    return path


def test_int8_export_is_quiet_and_counts_the_frames_it_had(ckpt, data, tmp_path):
    proc = _segnet("export", "--checkpoint", ckpt, "--int8", "--out", "m.xml", cwd=tmp_path,
                   SEGNET_CACHE_DIR=str(tmp_path / "cache"))
    assert proc.returncode == 0, proc
    assert "calibrated on 3 train frames" in proc.stdout  # asked for 30, the split has 3
    assert "INFO:nncf" not in proc.stdout + proc.stderr and "No CUDA runtime" not in proc.stderr, proc
    assert not proc.stderr.strip(), proc.stderr
    from segnet.checkpoints.exported import load_exported

    assert load_exported(tmp_path / "m.xml")["meta"]["calibration_frames"] == 3


def test_labels_that_do_not_fit_the_classes_fail_once_before_any_conversion(ckpt, data, tmp_path):
    import shutil

    root = Path(shutil.copytree(data, tmp_path / "CamVid"))
    assert cv2.imwrite(str(root / "valannot" / "f0.png"), np.full((32, 32), 40, np.uint8))
    bad = tmp_path / "bad.pt"
    saved = torch.load(ckpt, weights_only=True)
    torch.save({**saved, "config": {"data": {"root": str(root)}}}, bad)
    cache = tmp_path / "cache"
    proc = _segnet("predict", "--checkpoint", bad, root / "test" / "f0.png", "--out", tmp_path / "out",
                   "--device", "cpu", cwd=tmp_path, SEGNET_CACHE_DIR=str(cache))
    _one_error(proc, "bad.pt", "valannot/f0.png", "label value 40")
    assert "converting" not in proc.stdout and "running" not in proc.stdout, proc  # no conversion, no torch retry
    assert not (tmp_path / "out").exists() and not list(cache.rglob("*.xml"))


def test_evaluate_refuses_batch_size_0(ckpt, data, tmp_path):
    proc = _segnet("evaluate", "--checkpoint", ckpt, "--data-root", data, "--batch-size", "0", "--out",
                   tmp_path / "eval", cwd=tmp_path)
    _one_error(proc, "--batch-size", "got 0")
    assert not (tmp_path / "eval").exists()


def test_export_suffix_must_agree_with_the_format(ckpt, tmp_path):
    _one_error(_segnet("export", "--checkpoint", ckpt, "--format", "onnx", "--out", "m.xml", cwd=tmp_path),
               "m.xml", "onnx", ".onnx")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(segnet.SegnetError, match=r"model\.txt: cannot tell the format from the suffix '\.txt'"):
        segnet.export(segnet.load_model(ckpt), tmp_path / "model.txt")
    assert list(tmp_path.iterdir()) == []
    proc = _segnet("export", "--checkpoint", ckpt, "--out", "m.xml", cwd=tmp_path)  # the suffix names the format
    assert proc.returncode == 0 and "OpenVINO IR, float32" in proc.stdout, proc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]
