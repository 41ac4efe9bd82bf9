"""Runtimes that turn a network input [N, 3, H, W] (normalised, scaled, padded) into float32 logits.

- ``torch``: the checkpoint's model (CUDA, or the CPU with segnet.inference.fast's buffered forward);
- ``openvino``: an OpenVINO IR (``segnet export --format openvino [--int8]``) or an ONNX file;
- ``onnxruntime``: an ONNX file (``segnet export --format onnx``).

Exported files carry the checkpoint's metadata (classes, palette, normalisation, input_scale, frame_size, size
rule); ``load_exported`` reads it back into the same dict fields a checkpoint has, so a Predictor,
``segnet evaluate`` and ``segnet predict`` treat a ``.pt``, an ``.xml`` and an ``.onnx`` alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segnet.core.device import autocast
from segnet.core.forward import final_logits
from segnet.errors import SegnetError

BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
EXPORTED_SUFFIXES = {".xml": "openvino", ".onnx": "onnx"}
_PLAIN_STRINGS = ("model_name", "precision")  # ONNX metadata_props keep these unquoted
# Checkpoint fields an export stores as JSON and load_exported reads back.
METADATA_KEYS = ("model_name", "num_classes", "class_names", "palette", "input_scale", "frame_size", "normalization",
                 "size_multiple", "min_size", "precision", "meta")


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
        model = _read_openvino(path)
        fields = {k: _json(model.get_rt_info(["segnet", k]).astype(str), path)
                  for k in METADATA_KEYS if model.has_rt_info(["segnet", k])}
    else:
        fields = _onnx_metadata(path)
    if "model_name" not in fields:
        raise SegnetError(f"{path}: no segnet metadata (export it with segnet export)")
    fields.setdefault("precision", "float32")
    fields["exported"] = {"format": fmt, "path": str(path)}
    return fields


def _read_openvino(path: Path):
    import openvino as ov

    weights = path.with_suffix(".bin")
    if not weights.is_file():
        raise SegnetError(f"{path}: its weights file {weights.name} is missing")
    try:
        return ov.Core().read_model(str(path), str(weights))
    except Exception as exc:  # OpenVINO raises RuntimeError with a C++ stack in the message
        raise SegnetError(f"{path}: not a readable OpenVINO IR ({_first_line(exc)})") from exc


def _onnx_metadata(path: Path) -> dict[str, Any]:
    import onnx

    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:
        raise SegnetError(f"{path}: not a readable ONNX model ({_first_line(exc)})") from exc
    props = {p.key: p.value for p in proto.metadata_props if p.key in METADATA_KEYS}
    return {k: v if k in _PLAIN_STRINGS else _json(v, path) for k, v in props.items()}


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SegnetError(f"{path}: damaged segnet metadata ({exc})") from exc


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]


class TorchBackend:
    """The checkpoint's model, prepared by segnet.inference.fast (channels_last, buffered FC-DenseNet)."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device, amp_dtype: torch.dtype | None,
                 channels_last: bool):
        self.model, self.device, self.amp_dtype, self.channels_last = model, device, amp_dtype, channels_last
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
                 cache_dir: str | os.PathLike | None = None):
        import openvino as ov

        self.core = ov.Core()
        self.path = Path(path)
        self.model = self.core.read_model(str(self.path)) if self.path.suffix == ".onnx" else _read_openvino(self.path)
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
                raise SegnetError(f"{self.path}: OpenVINO cannot compile it for {list(shape)} ({_first_line(exc)})") from exc
            self._shape = shape
        out = self._compiled(x.detach().cpu().numpy())[0]
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


class OnnxRuntimeBackend:
    """An ONNX file on ONNX Runtime's CPU provider."""

    name = "onnxruntime"
    device = torch.device("cpu")
    precision = "float32"

    def __init__(self, path: str | os.PathLike):
        import onnxruntime as ort

        try:
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()  # as torch and OpenVINO
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise SegnetError(f"{path}: ONNX Runtime cannot load it ({_first_line(exc)})") from exc
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


# ----------------------------------------------------------------------------- the default runtime
# What `--backend auto` runs a .pt checkpoint with on a CPU, from `segnet bench predict`
# (docs/results/inference.md, AMD EPYC AVX2, 2 cores, 1 thread): OpenVINO float32 took less CPU
# per frame than segnet's buffered torch forward (FC-DenseNet103 360x480: 1.97 vs 2.52 s; bundled
# FC-DenseNet56: 0.37 vs 0.39 s) with identical test mIoU (46.56). OpenVINO INT8 (NNCF PTQ after
# segnet.inference.quantize) takes 1.5x less CPU again (bundled: 0.212 vs 0.316 s) and, since
# commit 110bc92, loses 0.06 test mIoU on the bundled model (46.56 -> 46.50), within the 0.5 that
# issue #13 allows. Other models are not known to, so INT8 is the default only for a model whose
# INT8 IR passes segnet.inference.int8_check (float32 and INT8 mIoU on VAL frames of its dataset,
# measured once per IR); any other runs float32.
# `--amp off` asks for float32, `--amp bf16/fp16` for torch autocast. CUDA always runs torch.
CPU_DEFAULT_PRECISION = "int8"


def default_runtime(device: torch.device, amp: str) -> tuple[str, str]:
    """(backend, precision) that ``--backend auto`` uses for a .pt checkpoint."""
    if device.type != "cpu" or amp in ("bf16", "fp16") or os.environ.get("SEGNET_BACKEND", "auto") == "torch":
        return "torch", "amp"
    if not openvino_available():
        return "torch", "amp"
    return "openvino", "float32" if amp == "off" else CPU_DEFAULT_PRECISION


def cache_dir() -> Path:
    """``$SEGNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/segnet``, else ``~/.cache/segnet``."""
    if os.environ.get("SEGNET_CACHE_DIR"):
        return Path(os.environ["SEGNET_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "segnet"


def weights_key(ckpt: dict[str, Any]) -> str:
    """sha256 of everything that changes the exported graph: weights, architecture, preprocessing."""
    import hashlib

    digest = hashlib.sha256()
    head = {k: ckpt.get(k) for k in ("model_name", "model_options", "num_classes", "input_scale", "normalization")}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for name, tensor in sorted(ckpt["model"].items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cached_openvino(ckpt: dict[str, Any], source: str, precision: str,
                    calibration_frames: int | None = None, verify: bool = True) -> dict[str, Any] | None:
    """The checkpoint as an OpenVINO IR (exported fields), made once and kept by weights hash in
    the package's assets (the bundled model's, shipped) or the cache folder. INT8 calibrates on
    the model's training frames and, with ``verify``, must pass segnet.inference.int8_check;
    otherwise it returns None with one printed line saying why (the caller runs float32).
    ``verify=False`` (benchmarks) returns the INT8 IR whatever its accuracy, None only when it
    cannot be made."""
    if precision != "int8":
        return load_exported(cached_ir(ckpt, source, "float32"))
    if verify:
        from segnet.inference.int8_check import int8_verdict, verdict_line

        verdict = int8_verdict(ckpt, source, calibration_frames)
        if not verdict["accepted"]:
            print(verdict_line(source, verdict), flush=True)
            return None
    try:
        return load_exported(cached_ir(ckpt, source, "int8", calibration_frames))
    except SegnetError:
        return None  # no training frames to calibrate on


def ir_path(ckpt: dict[str, Any], precision: str, calibration_frames: int | None = None) -> tuple[Path, bool]:
    """(where the checkpoint's IR is, or is to be made; whether it is there)."""
    from segnet.inference.bundled import BUNDLED_PATH
    from segnet.inference.export import CALIBRATION_FRAMES

    frames = calibration_frames or CALIBRATION_FRAMES
    name = f"{weights_key(ckpt)[:16]}-" + (f"int8-c{frames}" if precision == "int8" else "fp32") + ".xml"
    for folder in (BUNDLED_PATH.parent, cache_dir() / "openvino"):
        if (folder / name).is_file() and (folder / name).with_suffix(".bin").is_file():
            return folder / name, True
    return cache_dir() / "openvino" / name, False


def cached_ir(ckpt: dict[str, Any], source: str, precision: str, calibration_frames: int | None = None) -> Path:
    """The path of the checkpoint's IR, converted now if it is not there yet (SegnetError when it cannot be)."""
    from segnet.inference.export import CALIBRATION_FRAMES, export_openvino

    path, found = ir_path(ckpt, precision, calibration_frames)
    if found:
        return path
    print(f"converting {source} to OpenVINO {precision} (once; kept in {path.parent})", flush=True)
    path.with_suffix(".check.json").unlink(missing_ok=True)  # a verdict on a lost IR is not this one's
    return export_openvino(ckpt, path, source, int8=precision == "int8",
                           calibration_frames=calibration_frames or CALIBRATION_FRAMES)
