"""Where the model a user names comes from: the bundled model, a run name, a run folder, a ``.pt``,
or an exported ``.xml`` / ``.onnx``, read into checkpoint fields."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segnet.checkpoints.checkpoint import RUN_CHECKPOINTS, load_checkpoint, run_checkpoint
from segnet.checkpoints.exported import is_exported, load_exported
from segnet.core.paths import RUNS_DIR, bundled_model_path
from segnet.errors import SegnetError

BUNDLED_NAMES = ("bundled", "camvid")  # what names the shipped model besides None
def resolve_source(source: str | os.PathLike | None) -> Path | None:
    """A checkpoint path for ``source``: None for the bundled model, a ``.pt`` file, a run folder
    (its best.pt, else last.pt) or a run name under ``runs/`` (the newest ``runs/<name>-*``)."""
    if source is None or str(source) in BUNDLED_NAMES:
        return None
    path = Path(source)
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
        runs = sorted(p for p in RUNS_DIR.glob(f"{path.name}-*") if p.is_dir()) if RUNS_DIR.is_dir() else []
        path = RUNS_DIR / path.name if (RUNS_DIR / path.name).is_dir() else (runs[-1] if runs else path)
    if path.is_dir():
        found = run_checkpoint(path)
        if found is None:
            raise SegnetError(f"run folder {path} holds no {' or '.join(RUN_CHECKPOINTS)}")
        return found
    if not path.exists():
        raise SegnetError(f"no checkpoint, run folder or run name {str(source)!r} "
                          f"(run names are looked up in {RUNS_DIR}/)")
    return path


def resolve_checkpoint(path: str | os.PathLike | None) -> tuple[dict[str, Any], str]:
    """Load ``path``, or the bundled model when ``path`` is None; returns (checkpoint, its path).
    An exported model (.xml OpenVINO IR, .onnx) gives its metadata fields, run by its runtime."""
    if path is not None:
        return (load_exported(path) if is_exported(path) else load_checkpoint(path)), str(path)
    bundle = bundled_model_path()
    if not bundle.is_file():
        raise SegnetError(
            f"no checkpoint given and the bundled model is missing ({bundle}); give a checkpoint such as "
            "runs/<name>/best.pt, or make the bundle with tools/bundle_model.py"
        )
    return load_checkpoint(bundle), str(bundle)


def describe(ckpt: dict[str, Any], source: str) -> str:
    """One line naming the model and, for a bundle, its recorded test mIoU."""
    meta = ckpt.get("meta") or {}
    text = f"{ckpt['model_name']} ({source})"
    if meta.get("test_miou") is not None:
        text += f", recorded test mIoU {100 * float(meta['test_miou']):.1f}"
    return text
