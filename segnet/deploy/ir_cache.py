"""Checkpoints converted to OpenVINO IRs once and kept: beside the shipped model (its IRs ship with
it) or in the cache folder, named by the hash of everything that changes the exported graph."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from segnet.core.defaults import CALIBRATION_FRAMES
from segnet.core.paths import SHIPPED_MODEL, cache_dir
from segnet.deploy.export import export_openvino


def weights_key(ckpt: dict[str, Any]) -> str:
    """sha256 of everything that changes the exported graph: weights, architecture, preprocessing."""
    digest = hashlib.sha256()
    head = {k: ckpt.get(k) for k in ("model_name", "model_options", "num_classes", "input_scale", "normalization")}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for name, tensor in sorted(ckpt["model"].items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def ir_path(ckpt: dict[str, Any], precision: str, calibration_frames: int | None = None) -> tuple[Path, bool]:
    """(where the checkpoint's IR is, or is to be made; whether it is there)."""
    frames = calibration_frames or CALIBRATION_FRAMES
    name = f"{weights_key(ckpt)[:16]}-" + (f"int8-c{frames}" if precision == "int8" else "fp32") + ".xml"
    for folder in (SHIPPED_MODEL.parent, cache_dir() / "openvino"):
        if (folder / name).is_file() and (folder / name).with_suffix(".bin").is_file():
            return folder / name, True
    return cache_dir() / "openvino" / name, False


def cached_ir(ckpt: dict[str, Any], source: str, precision: str, calibration_frames: int | None = None) -> Path:
    """The path of the checkpoint's IR, converted now if it is not there yet (SegnetError when it cannot be)."""
    path, found = ir_path(ckpt, precision, calibration_frames)
    if found:
        return path
    print(f"converting {source} to an OpenVINO {precision} model for this CPU: once (a large model takes minutes), "
          f"kept in {path.parent}", flush=True)
    path.with_suffix(".check.json").unlink(missing_ok=True)  # a verdict on a lost IR is not this one's
    return export_openvino(ckpt, path, source, int8=precision == "int8",
                           calibration_frames=calibration_frames or CALIBRATION_FRAMES)
