"""The CamVid model shipped inside the package, and how a training checkpoint becomes it.

``segnet/assets/camvid_bundled.pt`` is a checkpoint in the DESIGN.md format with float16
weights (<= 10 MB) and no training state; its ``meta`` records the architecture, classes,
palette, training command and test mIoU. ``predict``, ``evaluate`` and ``demo`` use it when
no ``--checkpoint`` is given. ``tools/bundle_model.py`` makes it with ``make_bundle``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from segnet.core.checkpoint import load_checkpoint
from segnet.core.model_card import ModelCard
from segnet.errors import SegnetError

BUNDLED_PATH = Path(__file__).resolve().parent.parent / "assets" / "camvid_bundled.pt"
MAX_BUNDLE_BYTES = 10 * 1024 * 1024


def bundled_path() -> Path:
    """``$SEGNET_BUNDLED_MODEL`` when set (tests, other installs), else the package asset."""
    return Path(os.environ.get("SEGNET_BUNDLED_MODEL") or BUNDLED_PATH)


def resolve_checkpoint(path: str | os.PathLike | None) -> tuple[dict[str, Any], str]:
    """Load ``path``, or the bundled model when ``path`` is None; returns (checkpoint, its path).
    An exported model (.xml OpenVINO IR, .onnx) gives its metadata fields, run by its runtime."""
    if path is not None:
        from segnet.inference.backends import is_exported, load_exported

        return (load_exported(path) if is_exported(path) else load_checkpoint(path)), str(path)
    bundle = bundled_path()
    if not bundle.is_file():
        raise SegnetError(
            f"no checkpoint given and the bundled model is missing ({bundle}); give a checkpoint such as "
            "runs/<name>/best.pt, or make the bundle with tools/bundle_model.py"
        )
    return load_checkpoint(bundle), str(bundle)


def make_bundle(ckpt: dict[str, Any], test_miou: float | None = None, command: str | None = None,
                source: str = "") -> dict[str, Any]:
    """A slim, float16 copy of a training checkpoint with the meta a user needs to trust it."""
    missing = [k for k in ("model", "model_name") if k not in ckpt]
    if missing:
        raise SegnetError(f"{source or 'checkpoint'}: not a segnet checkpoint (missing {', '.join(missing)})")
    # The model card's entries (classes, preprocessing); training state (optimizer, rng, ...) is dropped.
    bundle = {k: v for k, v in ModelCard.from_checkpoint(ckpt, source or "checkpoint").to_checkpoint().items()
              if k != "meta"}
    bundle["model"] = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous().clone()
        for k, v in ckpt["model"].items()
    }
    old_meta = dict(ckpt.get("meta") or {})
    meta = {
        **old_meta,
        "architecture": bundle["model_name"],
        "model_options": dict(bundle["model_options"]),
        "classes": list(bundle["class_names"]),
        "palette": [list(map(int, c)) for c in bundle["palette"]],
        "weights_dtype": "float16",
        "source_epoch": ckpt.get("epoch", old_meta.get("source_epoch")),
    }
    if command is not None:
        meta["command"] = command
    if test_miou is not None:
        meta["test_miou"] = float(test_miou)
    bundle["meta"] = meta
    return bundle


def describe(ckpt: dict[str, Any], source: str) -> str:
    """One line naming the model and, for a bundle, its recorded test mIoU."""
    meta = ckpt.get("meta") or {}
    text = f"{ckpt['model_name']} ({source})"
    if meta.get("test_miou") is not None:
        text += f", recorded test mIoU {100 * float(meta['test_miou']):.1f}"
    return text
