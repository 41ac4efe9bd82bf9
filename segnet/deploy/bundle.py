"""The model shipped inside the package, made from a training checkpoint.

The bundle is a checkpoint in the DESIGN.md format with float16 weights (<= 10 MB) and no training
state; its ``meta`` records the architecture, classes, palette, training command and test mIoU.
``tools/bundle_model.py`` is the command over ``write_bundle``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from segnet.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint
from segnet.checkpoints.model_card import ModelCard
from segnet.core.atomic import atomic_write
from segnet.errors import SegnetError

MAX_BUNDLE_BYTES = 10 * 1024 * 1024


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


def write_bundle(source: Path, out: Path, test_miou: float | None = None, command: str | None = None,
                 max_bytes: int = MAX_BUNDLE_BYTES, frame_size: list[int] | None = None) -> Path:
    """Bundle the checkpoint ``source`` into ``out`` (atomically; refused over ``max_bytes``).
    ``test_miou`` as a fraction or in points; ``frame_size`` records the training frame size (at
    input_scale) of a checkpoint saved before segnet stored it."""
    ckpt = load_checkpoint(source)
    if frame_size is not None:
        recorded = ckpt.get("frame_size")
        if recorded is not None and list(recorded) != list(frame_size):
            raise SegnetError(f"{source} records frame_size {list(recorded)}, not {list(frame_size)}")
        ckpt = {**ckpt, "frame_size": list(frame_size)}
    if test_miou is not None and test_miou > 1.0:
        test_miou /= 100.0
    slim = make_bundle(ckpt, test_miou=test_miou, command=command, source=str(source))
    model_from_checkpoint(slim, str(source))  # the bundle must load strictly before it is written
    buffer = io.BytesIO()
    torch.save(slim, buffer)
    if buffer.tell() > max_bytes:  # checked before writing: an existing bundle stays as it is
        raise SegnetError(f"bundle of {ckpt['model_name']} would be {buffer.tell() / 2**20:.1f} MiB, over the "
                          f"{max_bytes / 2**20:.0f} MiB limit: bundle a smaller model (fc_densenet56/67)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as f:
        f.write(buffer.getvalue())
    return out
