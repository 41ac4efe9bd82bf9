"""Where segnet looks for things by default."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_root() -> Path:
    """CamVid root: $SEGNET_DATA_ROOT, else data/CamVid in the repository (or cwd)."""
    env = os.environ.get("SEGNET_DATA_ROOT")
    if env:
        return Path(env)
    for base in (Path.cwd(), REPO_ROOT):
        if (base / "data" / "CamVid").exists():
            return base / "data" / "CamVid"
    return Path("data") / "CamVid"
