"""Helpers for running ``segnet`` as a user does (a subprocess per invocation) on tiny inputs.

- ``tiny_root``: a CamVid-shaped tree of 64x64 crops of real frames (train 2, val 1, test 2),
  built once per session; a test that breaks it works on a copy (``camvid_copy``).
- ``tiny_ckpt``: a DESIGN.md checkpoint of a tiny FC-DenseNet.
- ``run_segnet(*argv, cwd=...)``: the command in a subprocess, with OpenMP at one thread.
- ``assert_clean_failure(result, *names)``: non-zero exit, one ``segnet: error:`` line on
  stderr naming every one of ``names``, no traceback anywhere.
- ``tree(path)``: every file under ``path`` (hidden temp files included), to prove that a failed
  command added nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
SIZE = 64
SPLITS = {"train": 2, "val": 1, "test": 2}


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:
        return (f"$ segnet {' '.join(self.argv)}\n[exit {self.returncode}]\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def run_segnet(*argv, cwd: Path, env: dict | None = None, timeout: float = 180) -> Result:
    """``python -m segnet ARGV...`` in ``cwd`` (so default outputs land there, not in the repo)."""
    args = [str(a) for a in argv]
    environ = {k: v for k, v in os.environ.items() if k not in ("SEGNET_DATA_ROOT", "SEGNET_DEBUG")}
    environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO), **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "segnet", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=timeout)
    return Result(args, proc.returncode, proc.stdout, proc.stderr)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_clean_failure(result: Result, *names: str, code: int = 2) -> str:
    """Exit ``code``, one ``segnet: error:`` line on stderr that names each of ``names``; returns it."""
    assert "Traceback" not in result.stderr + result.stdout, result
    assert result.returncode == code, result
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result
    assert lines[0].startswith("segnet: error: "), result
    for name in names:
        assert str(name) in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


def tree(path: Path) -> set[str]:
    """Relative paths of every file and folder under ``path`` (empty set when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return set()
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def tiny_root(camvid_root, tmp_path_factory) -> Path:
    """64x64 crops of real CamVid frames and labels, SegNet layout."""
    root = tmp_path_factory.mktemp("tiny") / "CamVid"
    for split, count in SPLITS.items():
        for image_path in sorted((camvid_root / split).glob("*.png"))[:count]:
            image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)[100:100 + SIZE, 200:200 + SIZE]
            label = cv2.imread(str(camvid_root / f"{split}annot" / image_path.name), cv2.IMREAD_UNCHANGED)
            for folder, array in ((split, image), (f"{split}annot", label[100:100 + SIZE, 200:200 + SIZE])):
                (root / folder).mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(root / folder / image_path.name), array)
    return root


@pytest.fixture
def camvid_copy(tiny_root, tmp_path) -> Path:
    """A private copy of ``tiny_root`` that a test may break."""
    return Path(shutil.copytree(tiny_root, tmp_path / "CamVid"))


def first(root: Path, folder: str) -> Path:
    return sorted((root / folder).glob("*.png"))[0]


def checkpoint_payload(model_name="fc_densenet", options=None, num_classes=11, state_classes=None) -> dict:
    """A DESIGN.md checkpoint dict; ``state_classes`` builds the weights for another class count."""
    from segnet.checkpoints.checkpoint import model_fields
    from segnet.models import create_model

    options = dict(TINY if options is None else options)
    torch.manual_seed(0)
    model = create_model("fc_densenet", state_classes or num_classes, **TINY)
    return {**model_fields(model, model_name, options, meta={"command": "tests/cli"}), "num_classes": num_classes}


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    from segnet.checkpoints.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, checkpoint_payload())
    return path


def tiny_recipe(path: Path, data_root: Path, run_dir: Path, **train) -> Path:
    """A recipe for a tiny FC-DenseNet on ``data_root`` (32x32 crops, 1 frame per step, no bars)."""
    import yaml

    stage = {"epochs": 1, "crop_size": 32, "batch_size": 1, **train}
    recipe = {
        "model": {"name": "fc_densenet", "options": dict(TINY)},
        "data": {"root": str(data_root), "num_workers": 0},
        "train": stage,
        "finetune": {"enabled": False},
        "loss": {"class_weights": "none"},
        "progress": False,
        "threads": 1,
        "run_dir": str(run_dir),
    }
    path.write_text(yaml.safe_dump(recipe))
    return path
