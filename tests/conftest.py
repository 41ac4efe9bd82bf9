"""Shared fixtures. Tests that read CamVid use the real frames in ../shared/data/CamVid
(or $SEGNET_DATA_ROOT, or data/CamVid); without them those tests fail with a clear message."""

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

# Two cores: keep intra-op threads at 2 and make tests reproducible.
torch.set_num_threads(min(2, os.cpu_count() or 1))

# `--backend auto` converts each new CPU checkpoint to OpenVINO once (minutes for a big model) and
# caches it in ~/.cache/segnet: tests of other behaviour run torch; tests/inference/test_backends.py
# tests the default runtime itself with a temporary cache.
os.environ.setdefault("SEGNET_BACKEND", "torch")


def _find_camvid() -> Path | None:
    candidates = [os.environ.get("SEGNET_DATA_ROOT"), REPO / "data" / "CamVid",
                  REPO.parent / "shared" / "data" / "CamVid"]
    for c in candidates:
        if c and (Path(c) / "train").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    root = _find_camvid()
    if root is None:
        pytest.fail("CamVid not found: set SEGNET_DATA_ROOT or run `make data` (see data/README.md)")
    return root


@pytest.fixture(scope="session", autouse=True)
def _segnet_cache(tmp_path_factory):
    """OpenVINO conversions and compiled blobs go to a test folder, never ~/.cache/segnet."""
    if "SEGNET_CACHE_DIR" not in os.environ:
        os.environ["SEGNET_CACHE_DIR"] = str(tmp_path_factory.mktemp("segnet-cache"))
    yield
