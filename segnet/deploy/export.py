"""Export to ONNX (dynamic batch, height and width) and to OpenVINO IR (float32 or INT8).

ONNX: uses the torch.export-based exporter (``dynamo=True``, the default since PyTorch 2.9) with
``Dim.DYNAMIC`` on the three axes. The graph maps a normalised float32 image [N, 3, H, W]
to float32 logits [N, C, H, W]; the preprocessing a caller must apply (``normalization``,
``input_scale``) and the class names and palette are stored in the model's metadata_props.

OpenVINO: the ONNX graph converted by ``openvino.convert_model`` and saved with float32 weights
(``compress_to_fp16=False``), the same metadata in the IR's rt_info under ``segnet``. ``int8``
quantizes it with NNCF post-training quantization, calibrated on frames of the TRAIN split of
the model's dataset (never test: the test mIoU must stay an honest measure of the INT8 model),
after segnet.deploy.quantize has made the network fit for it (same function).
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

from segnet.checkpoints.checkpoint import model_from_checkpoint
from segnet.checkpoints.exported import export_metadata, metadata_strings
from segnet.checkpoints.model_card import ModelCard
from segnet.core.atomic import atomic_write
from segnet.core.choices import EXPORT_FORMATS, EXPORT_SUFFIXES
from segnet.core.defaults import CALIBRATION_FRAMES
from segnet.core.paths import default_data_root
from segnet.data.camvid import find_pairs
from segnet.data.images import read_image
from segnet.deploy.logs import quiet_libraries
from segnet.deploy.quantize import prepare_for_int8, quantize_openvino
from segnet.errors import SegnetError
from segnet.inference.preprocess import frames_to_tensor, network_input
from segnet.models import final_logits, input_rule


class _Logits(torch.nn.Module):
    """The model in eval mode, returning only the final logits as float32."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return final_logits(self.model(image)).float()


def export_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The format to write ``path`` in: ``format`` when its suffix agrees, else from the suffix."""
    suffix = Path(path).suffix.lower()
    by_suffix = {s: f for f, s in EXPORT_SUFFIXES.items()}
    if format is None:
        if suffix not in by_suffix:
            raise SegnetError(f"{path}: cannot tell the format from the suffix '{suffix}' (use .onnx or .xml, "
                              "or name the format)")
        return by_suffix[suffix]
    if format not in EXPORT_FORMATS:
        raise SegnetError(f"unknown export format {format!r} (supported: {', '.join(EXPORT_FORMATS)})")
    if suffix != EXPORT_SUFFIXES[format]:
        raise SegnetError(f"{path}: an {format} export is written as an {EXPORT_SUFFIXES[format]} file, not '{suffix}'")
    return format


def export_onnx(ckpt: dict[str, Any], out: str | os.PathLike, source: str = "checkpoint",
                example_size: tuple[int, int] = (360, 480), verbose: bool = False,
                network: torch.nn.Module | None = None) -> Path:
    """Write ``out`` atomically (temporary file in the same folder, then rename). ``network``: the
    checkpoint's model already built (and made fit for INT8), instead of building it here."""
    import onnx

    out = Path(out)
    model = _Logits(network if network is not None else model_from_checkpoint(ckpt, source)).eval()
    in_channels = int(ModelCard.from_checkpoint(ckpt, source).model_options.get("in_channels", 3))
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
        onnx.helper.set_model_props(proto, metadata_strings(export_metadata(ckpt, input_rule(model.model))))
        onnx.checker.check_model(proto)
        with atomic_write(out) as f:  # the umask's mode (a tempfile.mkstemp file stays 0600)
            f.write(proto.SerializeToString())  # what onnx.save_model writes; it wants a named file
    except SegnetError:
        raise
    except Exception as exc:
        raise SegnetError(f"ONNX export of {ckpt['model_name']} failed: "
                          f"{str(exc).strip().splitlines()[0][:300]}") from exc
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


def export_openvino(ckpt: dict[str, Any], out: str | os.PathLike, source: str = "checkpoint", int8: bool = False,
                    calibration_frames: int = CALIBRATION_FRAMES, data_root: str | os.PathLike | None = None) -> Path:
    """Write ``out`` (.xml) and its .bin, both or neither: built in a temporary folder beside them,
    the .bin renamed into place before the .xml that names it. Library logs stay quiet
    (segnet.deploy.logs). An INT8 IR's ``meta`` records how many frames it was calibrated on (the
    train split may hold fewer than ``calibration_frames``)."""
    out = Path(out)
    if out.suffix.lower() != ".xml":
        raise SegnetError(f"{out}: an OpenVINO IR is an .xml file (its weights go beside it in .bin)")
    if int8 and calibration_frames < 1:
        raise SegnetError(f"calibration_frames must be >= 1, got {calibration_frames}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_libraries(), tempfile.TemporaryDirectory(prefix=f".{out.stem}.", dir=out.parent) as tmp:
        import openvino as ov

        network = model_from_checkpoint(ckpt, source).eval()
        frames = calibration_images(ckpt, calibration_frames, data_root) if int8 else []
        metadata = export_metadata(ckpt, input_rule(network), "int8" if int8 else "float32")
        equalized = False
        if int8:
            metadata["meta"] = {**metadata["meta"], "calibration_frames": len(frames)}
            network, equalized = prepare_for_int8(network, frames)
        model = ov.convert_model(str(export_onnx(ckpt, Path(tmp) / "model.onnx", source, network=network)))
        if int8:
            model = quantize_openvino(model, frames, source, fc_densenet=equalized)
        for key, value in metadata.items():
            model.set_rt_info(json.dumps(value), ["segnet", key])
        staged = Path(tmp) / "model.xml"
        ov.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(staged, out)
    return out


def model_data_root(ckpt: dict[str, Any], data_root: str | os.PathLike | None = None) -> Path:
    """The model's dataset: ``data_root``, else its training config's data root, else the default one."""
    return Path(data_root or ((ckpt.get("config") or {}).get("data") or {}).get("root") or default_data_root())


def spread_pairs(root: str | os.PathLike, split: str, count: int) -> list:
    """``count`` (image, label) paths spread evenly over ``split`` (all of them when it has fewer)."""
    pairs = find_pairs(root, split)
    n = min(count, len(pairs))  # (spread over count - 1 steps, a split with fewer gave its first frame only)
    return [pairs[i] for i in sorted({round(i * (len(pairs) - 1) / max(n - 1, 1)) for i in range(n)})]


def calibration_images(ckpt: dict[str, Any], count: int, data_root: str | os.PathLike | None = None,
                       split: str = "train") -> list:
    """``count`` frames spread over ``split`` (TRAIN for calibration) of the model's dataset, as network
    inputs: prepared as Predictor.logits prepares a frame (RGB in [0, 1], the model card's normalisation,
    resized by its input_scale, padded to a size the network takes), float32 NCHW."""
    pairs = spread_pairs(model_data_root(ckpt, data_root), split, count)
    card = ModelCard.from_checkpoint(ckpt)  # what a Predictor reads its preprocessing from
    rule = input_rule(model_from_checkpoint(ckpt))
    frames = []
    for image_path, _ in pairs:
        x = frames_to_tensor([read_image(image_path)], card.normalization)
        frames.append(network_input(x, card.input_scale, rule).numpy())
    return frames
