"""What an exported model (.onnx, OpenVINO .xml) carries besides its graph, written and read here.

An export stores the checkpoint's model-card fields (classes, palette, normalisation, input_scale,
frame_size) and the network's input rule as JSON in the file's metadata; ``load_exported`` reads
them back into the fields a checkpoint has, so a ``.pt``, an ``.xml`` and an ``.onnx`` are run alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from segnet.checkpoints.model_card import ModelCard
from segnet.errors import SegnetError, first_line

EXPORTED_SUFFIXES = {".xml": "openvino", ".onnx": "onnx"}
METADATA_KEYS = ("model_name", "num_classes", "class_names", "palette", "input_scale", "frame_size", "normalization",
                 "size_multiple", "min_size", "precision", "meta")
_PLAIN_STRINGS = ("model_name", "precision")  # ONNX metadata_props keep these unquoted
INPUT_CONTRACT = ("RGB scaled to [0, 1], then (x - mean) / std, resized to frame_size's pixel count keeping the "
                  "aspect ratio (by input_scale when there is no frame_size)")


def export_metadata(ckpt: dict[str, Any], input_rule: tuple[int, int], precision: str = "float32") -> dict[str, Any]:
    """What a runtime needs besides the graph; ``input_rule``: (size multiple, minimum side)."""
    card = ModelCard.from_checkpoint(ckpt)
    classes = card.classes.to_checkpoint()
    meta = {k: v for k, v in card.meta.items() if k in ("command", "test_miou", "architecture")}
    return {
        "model_name": card.model_name,
        **{k: classes[k] for k in ("num_classes", "class_names", "palette")},
        "input_scale": card.input_scale,
        **({"frame_size": list(card.frame_size)} if card.frame_size else {}),
        "normalization": card.normalization,
        "input": INPUT_CONTRACT,
        "size_multiple": input_rule[0],
        "min_size": input_rule[1],
        "precision": precision,
        "meta": meta,
    }


def metadata_strings(metadata: dict[str, Any]) -> dict[str, str]:
    """The metadata as the strings a file stores (JSON, names and precision as they are)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


def is_exported(path: str | os.PathLike | None) -> bool:
    return path is not None and Path(path).suffix.lower() in EXPORTED_SUFFIXES


def load_exported(path: str | os.PathLike) -> dict[str, Any]:
    """Checkpoint-like dict (no weights) of an exported model; ``exported`` names its file and format."""
    path = Path(path)
    fmt = EXPORTED_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise SegnetError(f"{path}: not an exported model (.xml OpenVINO IR or .onnx)")
    if not path.is_file():
        raise SegnetError(f"exported model not found: {path}")
    if fmt == "openvino":
        model = read_openvino(path)
        fields = {k: _json(model.get_rt_info(["segnet", k]).astype(str), path)
                  for k in METADATA_KEYS if model.has_rt_info(["segnet", k])}
    else:
        fields = _onnx_metadata(path)
    if "model_name" not in fields:
        raise SegnetError(f"{path}: no segnet metadata (export it with segnet export)")
    fields.setdefault("precision", "float32")
    fields["exported"] = {"format": fmt, "path": str(path)}
    return fields


def read_openvino(path: Path):
    """The OpenVINO model of an IR, its .bin beside it; one SegnetError when it cannot be read."""
    import openvino as ov

    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise SegnetError(f"{path}: its weights file {weights.name} is missing")
    try:
        return ov.Core().read_model(str(path), str(weights))
    except Exception as exc:  # OpenVINO raises RuntimeError with a C++ stack in the message
        raise SegnetError(f"{path}: not a readable OpenVINO IR ({first_line(exc)})") from exc


def _onnx_metadata(path: Path) -> dict[str, Any]:
    import onnx

    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:
        raise SegnetError(f"{path}: not a readable ONNX model ({first_line(exc)})") from exc
    props = {p.key: p.value for p in proto.metadata_props if p.key in METADATA_KEYS}
    return {k: v if k in _PLAIN_STRINGS else _json(v, path) for k, v in props.items()}


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SegnetError(f"{path}: damaged segnet metadata ({exc})") from exc
