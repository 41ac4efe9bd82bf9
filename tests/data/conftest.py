"""Small synthetic CamVid folders (SegNet layout) written into tmp_path."""

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return path


def write_label(path: Path, label: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), label)
    return path


def build_camvid(root: Path, sizes=None, height: int = 36, width: int = 48, seed: int = 0) -> Path:
    """A CamVid-shaped folder: ``sizes`` pairs per split of random images and labels 0..11."""
    sizes = sizes or {"train": 3, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    for split, count in sizes.items():
        for i in range(count):
            name = f"{split}_{i:03d}.png"
            write_rgb(root / split / name, rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
            write_label(root / f"{split}annot" / name, rng.integers(0, 12, (height, width), dtype=np.uint8))
    return root


@pytest.fixture
def tiny_camvid(tmp_path) -> Path:
    return build_camvid(tmp_path / "CamVid")
