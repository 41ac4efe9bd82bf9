"""Runtimes that turn a network input [N, 3, H, W] (normalised, scaled, padded) into float32 logits.

- ``torch``: the checkpoint's model (CUDA, or the CPU with segnet.inference.buffered's forward);
- ``openvino``: an OpenVINO IR (``segnet export --format openvino [--int8]``) or an ONNX file;
- ``onnxruntime``: an ONNX file (``segnet export --format onnx``).

Which one runs a model by default is decided above this layer (segnet.deploy.loading).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segnet.checkpoints.checkpoint import model_from_checkpoint
from segnet.checkpoints.exported import read_openvino
from segnet.core.device import autocast, resolve_amp, resolve_device
from segnet.core.paths import cache_dir
from segnet.errors import SegnetError, first_line
from segnet.inference.buffered import prepare_for_inference
from segnet.models import final_logits, input_rule


class TorchBackend:
    """The checkpoint's model, prepared by segnet.inference.buffered (channels_last, buffered FC-DenseNet)."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device, amp_dtype: torch.dtype | None,
                 channels_last: bool, input_rule: tuple[int, int] = (32, 32)):
        self.model, self.device, self.amp_dtype, self.channels_last = model, device, amp_dtype, channels_last
        self.input_rule = input_rule  # (size multiple, minimum side) the network's input needs
        self.precision = {None: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[amp_dtype]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(x.device, self.amp_dtype):
            return final_logits(self.model(x)).float()


def plugin_float_precision(core=None, precision_hint: str | None = None) -> str:
    """What a float32 IR computes in on the CPU plugin: ``precision_hint`` ("f32", "bf16"), else the
    plugin's default (bf16 on CPUs with native bf16 such as AMX, float32 elsewhere)."""
    if precision_hint is None:
        import openvino as ov

        precision_hint = (core or ov.Core()).get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
    return {"f32": "float32", "bf16": "bfloat16"}.get(precision_hint, precision_hint)


class OpenVINOBackend:
    """An OpenVINO IR or ONNX file compiled for the CPU, once per input shape (a video's frames
    share one). ``precision_hint``: "f32" forces float32; None lets OpenVINO choose (bf16 on AMX
    CPUs, like segnet's own ``--amp auto``). Compiled blobs go to ``cache_dir``: the next run
    with the same file and shape skips compilation."""

    name = "openvino"
    device = torch.device("cpu")

    def __init__(self, path: str | os.PathLike, precision: str, precision_hint: str | None = None,
                 cache_dir: str | os.PathLike | None = None, input_rule: tuple[int, int] = (32, 32)):
        import openvino as ov

        self.core = ov.Core()
        self.input_rule = input_rule
        self.path = Path(path)
        self.model = self.core.read_model(str(self.path)) if self.path.suffix == ".onnx" else read_openvino(self.path)
        # as many threads as torch uses (its default: the physical cores; `bench --threads`)
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        if precision_hint:
            self.config["INFERENCE_PRECISION_HINT"] = precision_hint
        # A float32 IR runs at the CPU plugin's inference precision (bf16 on AMX CPUs unless "f32")
        self.precision = precision if precision == "int8" else plugin_float_precision(self.core, precision_hint)
        if cache_dir is not None:
            self.config["CACHE_DIR"] = str(cache_dir)
        self._shape, self._compiled = None, None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        if shape != self._shape:
            model = self.model.clone()
            model.reshape({model.inputs[0].any_name: list(shape)})
            try:
                self._compiled = self.core.compile_model(model, "CPU", self.config)
            except Exception as exc:
                raise SegnetError(f"{self.path}: OpenVINO cannot compile it for {list(shape)} "
                                  f"({first_line(exc)})") from exc
            self._shape = shape
        out = self._compiled(x.detach().cpu().numpy())[0]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


class OnnxRuntimeBackend:
    """An ONNX file on ONNX Runtime's CPU provider."""

    name = "onnxruntime"
    device = torch.device("cpu")
    precision = "float32"

    def __init__(self, path: str | os.PathLike, input_rule: tuple[int, int] = (32, 32)):
        self.input_rule = input_rule
        import onnxruntime as ort

        try:
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()  # as torch and OpenVINO
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise SegnetError(f"{path}: ONNX Runtime cannot load it ({first_line(exc)})") from exc
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input: x.detach().cpu().numpy()})[0]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def torch_runtime(ckpt: dict[str, Any], source: str, device: str = "auto", amp: str = "auto",
                  channels_last: bool | None = None, fused: bool = True) -> TorchBackend:
    """The checkpoint's network on ``device``, prepared for inference (channels_last unless asked
    not to; FC-DenseNets with the buffered forward unless ``fused=False``)."""
    dev = resolve_device(device)
    model = model_from_checkpoint(ckpt, source).eval().to(dev)
    channels_last = True if channels_last is None else channels_last
    prepared = prepare_for_inference(model, channels_last=channels_last, fused=fused)
    return TorchBackend(prepared, dev, resolve_amp(amp, dev), channels_last, input_rule(model))


def exported_runtime(ckpt: dict[str, Any], backend: str, device: str, amp: str, source: str):
    """The runtime of an exported file (``ckpt`` from load_exported): OpenVINO for an IR and, by
    default, for ONNX too (faster than ONNX Runtime on this project's CPUs, docs/results/inference.md)."""
    fmt, path = ckpt["exported"]["format"], ckpt["exported"]["path"]
    if device not in ("auto", "cpu"):
        raise SegnetError(f"{source}: an exported model runs on the CPU (got device {device})")
    if backend == "torch":
        raise SegnetError(f"{source}: backend torch needs a .pt checkpoint, not an exported model")
    rule = (int(ckpt.get("size_multiple", 32)), int(ckpt.get("min_size", 32)))
    if backend == "onnxruntime" or (backend == "auto" and fmt == "onnx" and not openvino_available()):
        if fmt != "onnx":
            raise SegnetError(f"{source}: ONNX Runtime runs .onnx files; this is an OpenVINO IR")
        return OnnxRuntimeBackend(path, rule)
    if not openvino_available():
        raise SegnetError("OpenVINO is not installed: pip install openvino")
    hint = "f32" if amp == "off" else "bf16" if amp == "bf16" else None
    return OpenVINOBackend(path, ckpt.get("precision", "float32"), hint, cache_dir() / "compiled", rule)
