"""``segnet bench predict``: seconds per frame of every CPU runtime and precision, in one run.

For each model (the bundled one when present, FC-DenseNet103, any --checkpoint) and each path:

- ``port``: the plain PyTorch Tiramisu port (segnet.bench.tiramisu_port) of the same network, random
  weights, float32, NCHW -- the reference of the speed bar (speed only: its weights are not the model's);
- ``eager``: the model as built (NCHW, a ``torch.cat`` before every dense layer: the structure
  of the plain PyTorch Tiramisu port), float32 -- the reference the speed-ups are quoted against;
- ``torch``: segnet's own PyTorch path (channels_last, the buffered FC-DenseNet forward of
  segnet.inference.buffered), float32 and, on CPUs with native bf16, bfloat16;
- ``openvino`` / ``openvino-int8``: the checkpoint converted to OpenVINO IR, float32 and NNCF
  INT8 (calibrated on CamVid train frames), as ``segnet predict`` converts and caches it; INT8 is
  timed even when its accuracy check (segnet.deploy.int8_check) rejects it;
- ``onnxruntime``: the ONNX export on ONNX Runtime's CPU provider.

Every path runs ``Predictor.logits`` (input_scale, padding). Batch 1, the median of --frames timed
passes after a warm-up pass; CPU s/frame is this process's CPU time (all threads) per frame,
which shows how much of the wall time other jobs took. ``--json``: one record per (model, path,
precision) with ``seconds_per_frame``; the path ``segnet predict`` takes by default here for that
model has ``"default": true`` (INT8 only when its check accepted it), and the OpenVINO records
carry that check (``int8_check``). Each path's labels are compared with torch float32's on CamVid test frames.
Figures are recorded in docs/results/inference.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from segnet.core.paths import default_data_root

PATHS = ("port", "eager", "torch", "openvino", "openvino-int8", "onnxruntime")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="*", default=["bundled", "fc_densenet103"],
                        help="'bundled' (skipped when absent) and registry names, random-init "
                             "(default: bundled fc_densenet103)")
    parser.add_argument("--checkpoint", nargs="*", type=Path, default=[], help="trained checkpoints to add")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--bf16", choices=["auto", "yes", "no"], default="auto",
                        help="also time torch bfloat16 (auto: on CPUs with native bf16 only; 5x slower elsewhere)")
    parser.add_argument("--frames", type=int, default=3, help="timed passes per configuration (after 1 warm-up)")
    parser.add_argument("--agree-frames", type=int, default=4,
                        help="CamVid test frames for label agreement with torch float32 (0: skip)")
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid folder (default: the data root)")
    parser.add_argument("--size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--calibration-frames", type=int, default=None,
                        help="INT8 calibration frames (default: segnet's); speed does not depend on it")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _checkpoints(args) -> list[tuple[str, dict, str]]:
    """(label, checkpoint dict, weights description) for every model to measure."""
    from segnet.checkpoints.checkpoint import load_checkpoint, model_fields
    from segnet.core.paths import bundled_model_path
    from segnet.models import create_model

    found = []
    for name in args.models:
        if name == "bundled":
            path = bundled_model_path()
            if path.is_file():
                bundle = load_checkpoint(path)
                found.append((f"bundled {bundle['model_name']}", bundle, f"trained ({path})"))
            else:
                print(f"bundled model absent ({path}): skipped")
            continue
        torch.manual_seed(0)
        found.append((name, model_fields(create_model(name, 11), name, {}), "random init (seed 0)"))
    for path in args.checkpoint:
        ckpt = load_checkpoint(path)
        found.append((f"{ckpt['model_name']} ({path.name})", ckpt, f"trained ({path})"))
    return found


def _predictors(ckpt: dict, label: str, paths: list[str], bf16: bool, calibration_frames: int | None):
    """(path, precision, Predictor) for every configuration asked for."""
    from segnet.checkpoints.exported import load_exported
    from segnet.core.paths import cache_dir
    from segnet.deploy.export import export_onnx
    from segnet.deploy.ir_cache import weights_key
    from segnet.deploy.loading import cached_openvino, load_predictor

    for path in paths:
        if path == "port":
            port = _PortPredictor.for_checkpoint(ckpt)
            if port is not None:
                yield path, "float32", port
        elif path == "eager":
            yield path, "float32", load_predictor(ckpt, label, device="cpu", amp="off", backend="torch",
                                             channels_last=False, fused=False)
        elif path == "torch":
            yield path, "float32", load_predictor(ckpt, label, device="cpu", amp="off", backend="torch")
            if bf16:
                yield path, "bfloat16", load_predictor(ckpt, label, device="cpu", amp="bf16", backend="torch")
        elif path.startswith("openvino"):
            precision = "int8" if path.endswith("int8") else "float32"
            exported = cached_openvino(ckpt, label, precision, calibration_frames, verify=False)
            if exported is None:
                print(f"  {path}: skipped (no training frames to calibrate on)")
                continue
            predictor = load_predictor(exported, label, amp="off", backend="openvino")
            yield path, predictor.precision, predictor
        else:
            onnx_path = cache_dir() / "onnx" / f"{weights_key(ckpt)[:16]}.onnx"
            if not onnx_path.is_file():
                export_onnx(ckpt, onnx_path, label)
            yield path, "float32", load_predictor(load_exported(onnx_path), label, backend="onnxruntime")


class _PortPredictor:
    """The port's network timed like a Predictor: resize to input_scale, forward, logits back to size."""

    backend_name = "torch (plain port)"

    def __init__(self, model: torch.nn.Module, input_scale: float):
        self.model, self.input_scale = model.eval(), input_scale

    @classmethod
    def for_checkpoint(cls, ckpt: dict):
        from segnet.bench.tiramisu_port import PORTS

        build = PORTS.get(ckpt["model_name"])
        # options that leave the inference network as it is; any other means a different network
        same_network = {"dropout", "init", "memory_efficient", "deep_supervision"}
        if build is None or set(ckpt.get("model_options") or {}) - same_network:
            return None
        torch.manual_seed(0)
        return cls(build(ckpt["num_classes"]), float(ckpt.get("input_scale", 1.0)))

    def to_tensor(self, frames: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255)

    @torch.no_grad()
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        size = batch.shape[-2:]
        if self.input_scale != 1.0:
            batch = torch.nn.functional.interpolate(batch, scale_factor=self.input_scale, mode="bilinear")
        out = self.model(batch)
        return torch.nn.functional.interpolate(out, size=size, mode="bilinear") if out.shape[-2:] != size else out

    def predict(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return list(self.logits(self.to_tensor(frames)).argmax(1).numpy())


def time_calls(fn, frames: int) -> tuple[float, float]:
    """(median wall s, mean process CPU s) per call, after one warm-up call."""
    fn()
    walls, cpu = [], time.process_time()
    for _ in range(frames):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), (time.process_time() - cpu) / frames


def _test_frames(root: Path, count: int) -> list[np.ndarray]:
    from segnet.data.camvid import find_pairs
    from segnet.data.images import read_image

    pairs = find_pairs(root, "test")
    return [read_image(pairs[i][0]) for i in np.linspace(0, len(pairs) - 1, count).round().astype(int)]


def _default_path(bf16_flag: str) -> tuple[tuple[str, str], bool]:
    """(the (path, precision) segnet predict runs by default here, whether bf16 rows are timed);
    prints the machine and that default."""
    from segnet.core.device import cpu_description, resolve_amp
    from segnet.deploy.loading import default_runtime

    cpu = torch.device("cpu")
    native_bf16 = resolve_amp("auto", cpu) is not None
    backend, precision = default_runtime(cpu, "auto")
    default = ("torch", "bfloat16" if native_bf16 else "float32") if backend == "torch" else (
        "openvino-int8" if precision == "int8" else "openvino", precision)
    print(f"machine: {cpu_description()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"segnet predict's default CPU path here: {default[0]} {default[1]}"
          + (" (for a model whose INT8 passes its accuracy check; float32 otherwise)" if default[1] == "int8" else ""))
    print(f"load average at start (1/5/15 min): {_load()}")
    return default, bf16_flag == "yes" or (bf16_flag == "auto" and native_bf16)


def run(args: argparse.Namespace) -> int:
    from segnet.core.defaults import CALIBRATION_FRAMES
    from segnet.deploy.int8_check import int8_verdict, verdict_line

    if args.threads:
        torch.set_num_threads(args.threads)
    default, bf16 = _default_path(args.bf16)
    h, w = args.size
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    test = _test_frames(args.data_root or default_data_root(), args.agree_frames) if args.agree_frames else []
    results = []
    for label, ckpt, weights in _checkpoints(args):
        print(f"\n{label}: weights {weights}, input_scale {ckpt.get('input_scale', 1.0)}, {h}x{w}")
        # the INT8 check, when it decides the default or describes a timed INT8 IR (made once, cached)
        check = None
        if "openvino-int8" in args.paths or (default[1] == "int8" and "openvino" in args.paths):
            check = int8_verdict(ckpt, label, args.calibration_frames)
            print(f"  {verdict_line(label, check)}")
        model_default = default
        if default[1] == "int8" and check is not None:  # predict's own INT8 IR (segnet's calibration frames) decides
            same_ir = (args.calibration_frames or CALIBRATION_FRAMES) == CALIBRATION_FRAMES
            ours = check if same_ir else int8_verdict(ckpt, label)
            model_default = default if ours["accepted"] else ("openvino", "float32")
        print(f"  {'path':<15}{'precision':<10}{'s/frame':>9}{'CPU s/frame':>13}{'x port':>8}{'x eager':>9}"
              f"{'agree':>9}")
        reference, eager, port = None, None, None
        for path, prec, predictor in _predictors(ckpt, label, args.paths, bf16, args.calibration_frames):
            batch = predictor.to_tensor([image])
            wall, cpu_s = time_calls(lambda: predictor.logits(batch), args.frames)  # noqa: B023
            labels = [predictor.predict([f])[0] for f in test] if path != "port" else []
            if reference is None and path in ("eager", "torch") and prec == "float32":
                reference = labels
            agree = (float(np.mean([np.mean(a == b) for a, b in zip(labels, reference)])) if labels and reference
                     else None)
            eager = wall if path == "eager" else eager
            port = wall if path == "port" else port
            speedup = eager / wall if eager else None
            vs_port = port / wall if port else None
            print(f"  {path:<15}{prec:<10}{wall:>9.3f}{cpu_s:>13.3f}{vs_port or 0:>7.2f}x{speedup or 0:>8.2f}x"
                  f"{'' if agree is None else f'{100 * agree:>8.2f}%'}", flush=True)
            record = {"model": label, "weights": weights, "path": path, "backend": predictor.backend_name,
                      "precision": prec, "seconds_per_frame": wall, "frames_per_second": 1 / wall,
                      "cpu_seconds_per_frame": cpu_s, "speedup_vs_eager": speedup, "speedup_vs_port": vs_port,
                      "agreement_with_torch_float32": agree, "agreement_frames": len(test)}
            if path.startswith("openvino") and check is not None:
                record["int8_check"] = check
            if (path, prec) == model_default:
                record["default"] = True
            results.append(record)
    print(f"\nload average at end (1/5/15 min): {_load()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0
