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
import re
from pathlib import Path
from typing import Any

import torch

from segnet.checkpoints.model_card import ModelCard
from segnet.checkpoints.shards import INDEX_KEY, load_sharded, remove_unreferenced, save_sharded, write_torch_file
from segnet.errors import SegnetError
from segnet.models import create_model


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
    """The fields every segnet checkpoint carries to rebuild and run its model (segnet.checkpoints.model_card;
    ``classes``: a segnet.data.classes.DatasetClasses, CamVid's by default; ``frame_size``: (h, w)
    of a training frame at input_scale)."""
    from segnet.checkpoints.model_card import IDENTITY_NORMALIZATION, ModelCard
    from segnet.data.classes import CAMVID

    card = ModelCard(model_name, dict(model_options or {}), classes or CAMVID, float(input_scale),
                     tuple(frame_size) if frame_size else None, normalization or dict(IDENTITY_NORMALIZATION),
                     dict(meta or {}))
    return {"model": model.state_dict(), **card.to_checkpoint()}


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], shard_mb: float | None = None) -> None:
    """Write ``payload`` atomically (see segnet.core.atomic): a crash leaves the old file or the new one.

    ``shard_mb``: write it as shard files of at most that many MiB plus a small index at ``path``
    (segnet.checkpoints.shards); ``load_checkpoint`` reads either form. A write that fails (a full
    disk, a read-only folder) is a SegnetError naming the file and the cause; ``path`` is untouched.
    """
    path = Path(path)
    if shard_mb:
        save_sharded(path, payload, int(shard_mb * 2**20))
        return
    write_torch_file(path, payload)
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
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))  # which object: where to look when it is our own
            named = f" ({found[1]})" if found else ""
            reason = f"it contains Python objects other than weights{named} (refused for safety)"
        raise SegnetError(f"cannot read checkpoint {path}: {reason}") from None
    if isinstance(ckpt, dict) and INDEX_KEY in ckpt:
        ckpt = load_sharded(path, ckpt, map_location)
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise SegnetError(
            f"{path} holds a bare state_dict ({len(ckpt)} tensors), not a segnet checkpoint: wrap it as "
            "{'model': state_dict, 'model_name': NAME, 'model_options': {...}} (optionally num_classes, "
            "class_names, palette, input_scale, normalization), e.g. with segnet.checkpoints.checkpoint.model_fields"
        )
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_name" not in ckpt:
        raise SegnetError(f"{path} is not a segnet checkpoint (no 'model'/'model_name' entries)")
    return ckpt


RUN_CHECKPOINTS = ("best.pt", "last.pt")  # what a run folder means, in order of preference


def run_checkpoint(folder: Path) -> Path | None:
    """The checkpoint a run folder stands for: its best.pt, else its last.pt, else None."""
    return next((folder / name for name in RUN_CHECKPOINTS if (folder / name).is_file()), None)


def _folder_hint(folder: Path) -> str:
    """A run folder given where a checkpoint file belongs: name the file to use."""
    found = run_checkpoint(folder)
    if found is not None:
        return f"{folder} is a folder, not a checkpoint; its model is {found}"
    return f"{folder} is a folder, not a checkpoint (no {' or '.join(RUN_CHECKPOINTS)} in it)"


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
    card = ModelCard.from_checkpoint(ckpt, source)
    try:
        model = create_model(card.model_name, num_classes=card.classes.num_classes, **card.model_options)
    except SegnetError as exc:
        raise SegnetError(f"{source}: {exc}") from None
    load_weights(model, ckpt["model"], f"{source}: weights do not fit {card.model_name} with "
                                       f"{card.classes.num_classes} classes")
    return model


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], refusal: str) -> None:
    """``state`` into ``model`` strictly, float16 bundles cast up; weights of another network are
    one SegnetError, ``refusal`` followed by the first mismatch (PyTorch lists every key)."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        raise SegnetError(f"{refusal} ({detail[:200]})") from None
