"""Checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint is a plain dict (tensors, numbers, strings, lists, dicts only, so that
``torch.load(weights_only=True)`` can read it without unpickling code):

    model:          state_dict
    model_name:     registry name, e.g. "fc_densenet103"
    model_options:  dict of keyword options for create_model (deep_supervision, ...)
    num_classes:    int
    class_names:    list[str]
    palette:        list of [r, g, b] (num_classes + 1 rows, last is void)
    input_scale:    the resize factor the network was trained at
    frame_size:     [height, width] of a training frame at input_scale (optional; older checkpoints lack it)
    normalization:  {"mean": [r, g, b], "std": [r, g, b]} on [0, 1] RGB
    meta:           free-form dict (training command, test mIoU, ...), optional
    + training state (optimizer, scheduler, scaler, epoch, early_stopping, rng, config)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from segnet.core.atomic import atomic_write
from segnet.core.shards import INDEX_KEY, load_sharded, remove_unreferenced, save_sharded
from segnet.errors import SegnetError


def model_fields(
    model: torch.nn.Module,
    model_name: str,
    model_options: dict | None = None,
    input_scale: float = 1.0,
    normalization: dict | None = None,
    meta: dict | None = None,
    classes=None,
    frame_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The fields every segnet checkpoint carries to rebuild and run its model (segnet.core.model_card;
    ``classes``: a segnet.data.classes.DatasetClasses, CamVid's by default; ``frame_size``: (h, w)
    of a training frame at input_scale)."""
    from segnet.core.model_card import IDENTITY_NORMALIZATION, ModelCard
    from segnet.data.classes import CAMVID

    card = ModelCard(model_name, dict(model_options or {}), classes or CAMVID, float(input_scale),
                     tuple(frame_size) if frame_size else None, normalization or dict(IDENTITY_NORMALIZATION),
                     dict(meta or {}))
    return {"model": model.state_dict(), **card.to_checkpoint()}


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], shard_mb: float | None = None) -> None:
    """Write ``payload`` atomically (see segnet.core.atomic): a crash leaves the old file or the new one.

    ``shard_mb``: write it as shard files of at most that many MiB plus a small index at ``path``
    (segnet.core.shards); ``load_checkpoint`` reads either form.
    """
    path = Path(path)
    if shard_mb:
        save_sharded(path, payload, int(shard_mb * 2**20))
        return
    with atomic_write(path) as f:
        torch.save(payload, f)
    remove_unreferenced(path, keep=set())  # shards of an earlier sharded save of this path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; any problem becomes a one-line SegnetError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise SegnetError(_folder_hint(path))
    if not path.is_file():
        raise SegnetError(f"checkpoint not found: {path}")
    if _is_onnx(path):
        raise SegnetError(f"{path} is an ONNX model, not a checkpoint (segnet reads the .pt file it was exported from)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            reason = "it contains Python objects other than weights (refused for safety)"
        raise SegnetError(f"cannot read checkpoint {path}: {reason}") from None
    if isinstance(ckpt, dict) and INDEX_KEY in ckpt:
        ckpt = load_sharded(path, ckpt, map_location)
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise SegnetError(
            f"{path} holds a bare state_dict ({len(ckpt)} tensors), not a segnet checkpoint: wrap it as "
            "{'model': state_dict, 'model_name': NAME, 'model_options': {...}} (optionally num_classes, "
            "class_names, palette, input_scale, normalization), e.g. with segnet.core.checkpoint.model_fields"
        )
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_name" not in ckpt:
        raise SegnetError(f"{path} is not a segnet checkpoint (no 'model'/'model_name' entries)")
    return ckpt


def _folder_hint(folder: Path) -> str:
    """A run folder given where a checkpoint file belongs: name the file to use."""
    for name in ("best.pt", "last.pt"):
        if (folder / name).is_file():
            return f"{folder} is a folder, not a checkpoint; its model is {folder / name}"
    return f"{folder} is a folder, not a checkpoint (no best.pt or last.pt in it)"


def _is_onnx(path: Path) -> bool:
    """ONNX files are protobufs (no magic number); a checkpoint is a zip (PK) or a legacy pickle."""
    if path.suffix.lower() == ".onnx":
        return True
    with path.open("rb") as f:
        head = f.read(64)
    # field 1 (ir_version, a varint: tag 0x08) comes first, then the producer's name
    return head[:1] == b"\x08" and (b"pytorch" in head.lower() or b"onnx" in head.lower())


def model_from_checkpoint(ckpt: dict[str, Any], source: str = "checkpoint") -> torch.nn.Module:
    """Rebuild the network a checkpoint describes and load its weights (strictly)."""
    from segnet.models import create_model

    name, num_classes = ckpt["model_name"], int(ckpt.get("num_classes", 11))
    options = dict(ckpt.get("model_options") or {})
    try:
        model = create_model(name, num_classes=num_classes, **options)
    except SegnetError as exc:
        raise SegnetError(f"{source}: {exc}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise SegnetError(
            f"{source}: weights do not fit {name} with {num_classes} classes ({detail[:200]})"
        ) from None
    return model
