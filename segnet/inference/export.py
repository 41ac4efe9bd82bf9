"""Export to ONNX (dynamic batch, height and width) and to OpenVINO IR (float32 or INT8).

ONNX: uses the torch.export-based exporter (``dynamo=True``, the default since PyTorch 2.9) with
``Dim.DYNAMIC`` on the three axes. The graph maps a normalised float32 image [N, 3, H, W]
to float32 logits [N, C, H, W]; the preprocessing a caller must apply (``normalization``,
``input_scale``) and the class names and palette are stored in the model's metadata_props.

OpenVINO: the ONNX graph converted by ``openvino.convert_model`` and saved with float32 weights
(``compress_to_fp16=False``), the same metadata in the IR's rt_info under ``segnet``. ``int8``
quantizes it with NNCF post-training quantization, calibrated on frames of the TRAIN split of
the model's dataset (never test: the test mIoU must stay an honest measure of the INT8 model),
after segnet.inference.quantize has made the network fit for it (same function).
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

from segnet.core.atomic import atomic_write
from segnet.core.checkpoint import model_from_checkpoint
from segnet.core.model_card import ModelCard
from segnet.errors import SegnetError
from segnet.inference.quantize import prepare_for_int8, quantize_openvino
from segnet.models.fc_densenet import FCDenseNet

FORMATS = ("onnx", "openvino")
CALIBRATION_FRAMES = 30  # NNCF's statistics settle well before its default 300 (docs/results/inference.md)


class _Logits(torch.nn.Module):
    """The model in eval mode, returning only the final logits as float32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.model(image)
        return (out[0] if isinstance(out, (tuple, list)) else out).float()


def export_onnx(ckpt: dict[str, Any], out: str | os.PathLike, source: str = "checkpoint",
                example_size: tuple[int, int] = (360, 480), verbose: bool = False,
                network: torch.nn.Module | None = None) -> Path:
    """Write ``out`` atomically (temporary file in the same folder, then rename). ``network``: the
    checkpoint's model already built (and made fit for INT8), instead of building it here."""
    import onnx

    out = Path(out)
    model = _Logits(network if network is not None else model_from_checkpoint(ckpt, source)).eval()
    in_channels = model.model.first_conv.in_channels if hasattr(model.model, "first_conv") else 3
    example = torch.rand(1, in_channels, *example_size)
    dynamic = torch.export.Dim.DYNAMIC
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
        with quiet, torch.no_grad():
            program = torch.onnx.export(
                model, (example,), dynamo=True, input_names=["image"], output_names=["logits"],
                dynamic_shapes={"image": {0: dynamic, 2: dynamic, 3: dynamic}}, external_data=False,
            )
        proto = program.model_proto
        _rename_dims(proto)
        metadata = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in export_metadata(ckpt, model.model).items()}
        onnx.helper.set_model_props(proto, metadata)
        onnx.checker.check_model(proto)
        with atomic_write(out) as f:  # the umask's mode (a tempfile.mkstemp file stays 0600)
            f.write(proto.SerializeToString())  # what onnx.save_model writes; it wants a named file
    except SegnetError:
        raise
    except Exception as exc:
        raise SegnetError(f"ONNX export of {ckpt['model_name']} failed: {str(exc).strip().splitlines()[0][:300]}") from exc
    return out


def export_metadata(ckpt: dict[str, Any], model: torch.nn.Module, precision: str = "float32") -> dict[str, Any]:
    """What a runtime needs besides the graph (segnet.inference.backends.METADATA_KEYS)."""
    from segnet.inference.tiling import size_rule

    multiple, min_size = size_rule(model)
    card = ModelCard.from_checkpoint(ckpt)
    classes = card.classes.to_checkpoint()
    meta = {k: v for k, v in card.meta.items() if k in ("command", "test_miou", "architecture")}
    return {
        "model_name": card.model_name,
        **{k: classes[k] for k in ("num_classes", "class_names", "palette")},
        "input_scale": card.input_scale,
        **({"frame_size": list(card.frame_size)} if card.frame_size else {}),
        "normalization": card.normalization,
        "input": "RGB scaled to [0, 1], then (x - mean) / std, resized to frame_size's pixel count keeping "
                 "the aspect ratio (by input_scale when there is no frame_size)",
        "size_multiple": multiple,
        "min_size": min_size,
        "precision": precision,
        "meta": meta,
    }


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


def export_openvino(ckpt: dict[str, Any], out: str | os.PathLike, source: str = "checkpoint", int8: bool = False,
                    calibration_frames: int = CALIBRATION_FRAMES, data_root: str | os.PathLike | None = None) -> Path:
    """Write ``out`` (.xml) and its .bin, both or neither: built in a temporary folder beside them,
    the .bin renamed into place before the .xml that names it."""
    import openvino as ov

    out = Path(out)
    if out.suffix.lower() != ".xml":
        raise SegnetError(f"{out}: an OpenVINO IR is an .xml file (its weights go beside it in .bin)")
    if int8 and calibration_frames < 1:
        raise SegnetError(f"calibration_frames must be >= 1, got {calibration_frames}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.stem}.", dir=out.parent) as tmp:
        network = model_from_checkpoint(ckpt, source).eval()
        frames = calibration_images(ckpt, calibration_frames, data_root) if int8 else []
        metadata = export_metadata(ckpt, network, "int8" if int8 else "float32")
        if int8:
            network = prepare_for_int8(network, frames)
        model = ov.convert_model(str(export_onnx(ckpt, Path(tmp) / "model.onnx", source, network=network)))
        if int8:
            model = quantize_openvino(model, frames, source, fc_densenet=isinstance(network, FCDenseNet))
        for key, value in metadata.items():
            model.set_rt_info(json.dumps(value), ["segnet", key])
        staged = Path(tmp) / "model.xml"
        ov.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(staged, out)
    return out


def model_data_root(ckpt: dict[str, Any], data_root: str | os.PathLike | None = None) -> Path:
    """The model's dataset: ``data_root``, else its training config's data root, else the default one."""
    from segnet.paths import default_data_root

    return Path(data_root or ((ckpt.get("config") or {}).get("data") or {}).get("root") or default_data_root())


def spread_pairs(root: str | os.PathLike, split: str, count: int) -> list:
    """``count`` (image, label) paths spread evenly over ``split`` (all of them when it has fewer)."""
    from segnet.data.camvid import find_pairs

    pairs = find_pairs(root, split)
    n = min(count, len(pairs))  # (spread over count - 1 steps, a split with fewer gave its first frame only)
    return [pairs[i] for i in sorted({round(i * (len(pairs) - 1) / max(n - 1, 1)) for i in range(n)})]


def calibration_images(ckpt: dict[str, Any], count: int, data_root: str | os.PathLike | None = None,
                       split: str = "train") -> list:
    """``count`` frames spread over ``split`` (TRAIN for calibration) of the model's dataset, as network
    inputs: prepared as Predictor.logits prepares a frame (RGB in [0, 1], the model card's normalisation,
    resized by its input_scale, padded to a size the network takes), float32 NCHW."""
    from segnet.data.camvid import read_image
    from segnet.inference.predictor import scale_input
    from segnet.inference.tiling import pad_to, size_rule

    pairs = spread_pairs(model_data_root(ckpt, data_root), split, count)
    card = ModelCard.from_checkpoint(ckpt)  # what Predictor reads its preprocessing from
    mean, std = (torch.tensor(card.normalization.get(k, d), dtype=torch.float32).view(1, -1, 1, 1)
                 for k, d in (("mean", (0.0, 0.0, 0.0)), ("std", (1.0, 1.0, 1.0))))
    multiple, min_size = size_rule(model_from_checkpoint(ckpt))
    frames = []
    for image_path, _ in pairs:
        x = torch.from_numpy(read_image(image_path)).permute(2, 0, 1)[None].float().div(255.0)
        x = pad_to(scale_input((x - mean) / std, card.input_scale), multiple, min_size)
        frames.append(x.numpy())
    return frames
