"""Fixtures for the input/output tests (test_inputs, test_video, test_stream): a tiny model and
small synthetic clips, so no test needs CamVid or more than a few seconds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


@pytest.fixture(scope="session")
def tiny_model_ckpt(tmp_path_factory) -> Path:
    """A DESIGN.md checkpoint of a tiny FC-DenseNet (random weights)."""
    from segnet.checkpoints.checkpoint import model_fields, save_checkpoint
    from segnet.models import create_model

    torch.manual_seed(0)
    model = create_model("fc_densenet", 11, **TINY)
    path = tmp_path_factory.mktemp("tiny_model") / "tiny.pt"
    save_checkpoint(path, model_fields(model, "fc_densenet", TINY))
    return path


def clip_frames(count: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB frames (width, height ``size``): smooth colour gradients that move, so the
    model sees changing content and MJPG keeps them close to what was written."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (width * 2, height),
                      interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(np.roll(base, 3 * i, axis=1)[:, :width]) for i in range(count)]


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """MJPG .avi: every OpenCV wheel writes it, and it streams over HTTP without seeking."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def read_clip(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, RGB."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 7-frame 64x48 clip at 10 fps."""
    return write_clip(tmp_path / "clip.avi", clip_frames(7))


@pytest.fixture(scope="session")
def video_helpers():
    """The helpers above, for test modules (tests/ is not a package, so they cannot import this file)."""
    return type("VideoHelpers", (), {"frames": staticmethod(clip_frames), "write": staticmethod(write_clip),
                                     "read": staticmethod(read_clip)})


NORM = {"mean": [0.4, 0.4, 0.4], "std": [0.3, 0.3, 0.3]}


def tiny_trained_like() -> torch.nn.Module:
    """The TINY FC-DenseNet with non-trivial BatchNorm statistics, as a trained model has, so
    folding, exporting and converting them are really tested (torch's seed is the caller's)."""
    from segnet.models import create_model

    model = create_model("fc_densenet", 11, **TINY)
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


@pytest.fixture(scope="session")
def tiny_model():
    """``build()`` (tiny_trained_like), ``options`` (TINY) and ``normalization`` (NORM) for test modules."""
    return type("TinyModel", (), {"build": staticmethod(tiny_trained_like), "options": TINY, "normalization": NORM})
