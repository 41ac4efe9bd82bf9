"""ONNX export with dynamic batch, height and width.

Uses the torch.export-based exporter (``dynamo=True``, the default since PyTorch 2.9) with
``Dim.DYNAMIC`` on the three axes. The graph maps a normalised float32 image [N, 3, H, W]
to float32 logits [N, C, H, W]; the preprocessing a caller must apply (``normalization``,
``input_scale``) and the class names and palette are stored in the model's metadata_props.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from segnet.core.checkpoint import model_from_checkpoint
from segnet.errors import SegnetError

FORMATS = ("onnx",)


class _Logits(torch.nn.Module):
    """The model in eval mode, returning only the final logits as float32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.model(image)
        return (out[0] if isinstance(out, (tuple, list)) else out).float()


def export_onnx(ckpt: dict[str, Any], out: str | os.PathLike, source: str = "checkpoint",
                example_size: tuple[int, int] = (360, 480), verbose: bool = False) -> Path:
    """Write ``out`` atomically (temporary file in the same folder, then rename)."""
    import onnx

    out = Path(out)
    model = _Logits(model_from_checkpoint(ckpt, source)).eval()
    in_channels = model.model.first_conv.in_channels if hasattr(model.model, "first_conv") else 3
    example = torch.rand(1, in_channels, *example_size)
    dynamic = torch.export.Dim.DYNAMIC
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
        with quiet, torch.no_grad():
            program = torch.onnx.export(
                model, (example,), dynamo=True, input_names=["image"], output_names=["logits"],
                dynamic_shapes={"image": {0: dynamic, 2: dynamic, 3: dynamic}}, external_data=False,
            )
        proto = program.model_proto
        _rename_dims(proto)
        metadata = {
            "model_name": ckpt["model_name"],
            "num_classes": int(ckpt.get("num_classes", 11)),
            "class_names": list(ckpt.get("class_names") or []),
            "palette": [list(map(int, c)) for c in ckpt.get("palette") or []],
            "input_scale": float(ckpt.get("input_scale", 1.0) or 1.0),
            "normalization": ckpt.get("normalization") or {"mean": [0.0] * 3, "std": [1.0] * 3},
            "input": "RGB scaled to [0, 1], then (x - mean) / std, resized by input_scale",
        }
        onnx.helper.set_model_props(proto, {k: json.dumps(v) if not isinstance(v, str) else v for k, v in metadata.items()})
        onnx.checker.check_model(proto)
        onnx.save_model(proto, tmp)
        os.replace(tmp, out)
    except SegnetError:
        raise
    except Exception as exc:
        raise SegnetError(f"ONNX export of {ckpt['model_name']} failed: {str(exc).strip().splitlines()[0][:300]}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _rename_dims(proto) -> None:
    """Readable names for the dynamic axes of the graph's input and output."""
    names = {0: "batch", 2: "height", 3: "width"}
    renames = {}
    for value in list(proto.graph.input) + list(proto.graph.output):
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param and axis in names:
                renames.setdefault(dim.dim_param, names[axis])
    for value in list(proto.graph.input) + list(proto.graph.output) + list(proto.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]
