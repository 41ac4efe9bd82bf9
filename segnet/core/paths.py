"""Every default location segnet reads or writes, each with the environment variable that moves it."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE_ASSETS = Path(__file__).resolve().parent.parent / "assets"
# The CamVid model shipped inside the package (segnet.deploy.bundle makes it).
SHIPPED_MODEL = PACKAGE_ASSETS / "camvid_bundled.pt"
# Training runs: runs/<name>-<time>/ under the working directory; run names are looked up here.
RUNS_DIR = Path("runs")


def default_data_root() -> Path:
    """CamVid root: $SEGNET_DATA_ROOT, else data/CamVid in the working directory or the repository."""
    env = os.environ.get("SEGNET_DATA_ROOT")
    if env:
        return Path(env)
    for base in (Path.cwd(), REPO_ROOT):
        if (base / "data" / "CamVid").exists():
            return base / "data" / "CamVid"
    return Path("data") / "CamVid"


def bundled_model_path() -> Path:
    """``$SEGNET_BUNDLED_MODEL`` when set (tests, other installs), else the shipped model."""
    return Path(os.environ.get("SEGNET_BUNDLED_MODEL") or SHIPPED_MODEL)


def cache_dir() -> Path:
    """``$SEGNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/segnet``, else ``~/.cache/segnet``: converted
    models (openvino/, onnx/), compiled blobs (compiled/), class weights (class_weights/)."""
    if os.environ.get("SEGNET_CACHE_DIR"):
        return Path(os.environ["SEGNET_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "segnet"
