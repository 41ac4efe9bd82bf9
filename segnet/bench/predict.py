"""``segnet bench predict``: inference frames/s at 360x480, float32 vs bfloat16.

For each model (the bundled one when present, FC-DenseNet103, any --checkpoint) and each path:

- ``eager``: the model as built (NCHW) through ``forward_logits`` (input_scale applied);
- ``channels_last``: the same with channels_last weights and input;
- ``segnet``: what ``segnet predict`` runs, ``Predictor.logits`` (channels_last, the buffered
  FC-DenseNet forward of segnet.inference.fast, the checkpoint's input_scale);

in float32 and with bfloat16 autocast. Batch 1, the median of --frames timed passes after a
warm-up pass; CPU s/frame is this process's CPU time (all threads) per frame, which says how
much of the wall time other jobs on the machine took. Then the bf16 path's argmax is compared
with float32's on real CamVid test frames. Figures are recorded in docs/results/inference.md.
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

from segnet.paths import default_data_root

PATHS = ("eager", "channels_last", "segnet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="*", default=["bundled", "fc_densenet103"],
                        help="'bundled' (skipped when absent) and registry names, random-init (default: bundled fc_densenet103)")
    parser.add_argument("--checkpoint", nargs="*", type=Path, default=[], help="trained checkpoints to add")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--frames", type=int, default=3, help="timed passes per configuration (after 1 warm-up)")
    parser.add_argument("--agree-frames", type=int, default=8, help="CamVid test frames for the bf16-vs-fp32 argmax check (0: skip)")
    parser.add_argument("--data-root", type=Path, default=None, help="CamVid folder (default: the data root)")
    parser.add_argument("--size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _checkpoints(args) -> list[tuple[str, dict, str]]:
    """(label, checkpoint dict, weights description) for every model to measure."""
    from segnet.data.classes import CLASS_NAMES, PALETTE
    from segnet.inference.bundled import bundled_path
    from segnet.core.checkpoint import load_checkpoint
    from segnet.models import create_model

    found = []
    for name in args.models:
        if name == "bundled":
            path = bundled_path()
            if path.is_file():
                bundle = load_checkpoint(path)
                found.append((f"bundled {bundle['model_name']}", bundle, f"trained ({path})"))
            else:
                print(f"bundled model absent ({path}): skipped")
            continue
        torch.manual_seed(0)
        model = create_model(name, 11)
        found.append((name, {"model": model.state_dict(), "model_name": name, "model_options": {}, "num_classes": 11,
                             "class_names": CLASS_NAMES, "palette": PALETTE.tolist(), "input_scale": 1.0,
                             "normalization": None}, "random init (seed 0)"))
    for path in args.checkpoint:
        ckpt = load_checkpoint(path)
        found.append((f"{ckpt['model_name']} ({path.name})", ckpt, f"trained ({path})"))
    return found


def _time(fn, frames: int) -> tuple[float, float]:
    """(median wall s, mean process CPU s) per call, after one warm-up call."""
    fn()
    walls, cpu = [], time.process_time()
    for _ in range(frames):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), (time.process_time() - cpu) / frames


def _agreement(predictor_fp32, predictor_bf16, root: Path, count: int) -> tuple[float, int]:
    from segnet.data.camvid import find_pairs, read_image

    pairs = find_pairs(root, "test")
    chosen = [pairs[i] for i in np.linspace(0, len(pairs) - 1, count).round().astype(int)]
    same = total = 0
    for image_path, _ in chosen:
        image = read_image(image_path)
        a, b = predictor_fp32.predict([image]), predictor_bf16.predict([image])
        same += int((a == b).sum())
        total += a.size
    return same / total, len(chosen)


def run(args: argparse.Namespace) -> int:
    from segnet.core.device import cpu_description, resolve_device
    from segnet.core.forward import forward_logits
    from segnet.inference.predictor import Predictor

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"machine: {cpu_description()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}")
    print(f"load average at start (1/5/15 min): {_load()}")
    h, w = args.size
    results = []
    for label, ckpt, weights in _checkpoints(args):
        print(f"\n{label}: weights {weights}, input_scale {ckpt.get('input_scale', 1.0)}")
        print(f"  {'path':<14}{'precision':<11}{'s/frame':>9}{'frames/s':>10}{'CPU s/frame':>13}")
        predictors = {}
        for precision in args.precisions:
            amp = "bf16" if precision == "bfloat16" else "off"
            predictors[precision] = Predictor(ckpt, label, device=str(device), amp=amp)
        image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        for path in args.paths:
            for precision in args.precisions:
                predictor = predictors[precision]
                batch = predictor.to_tensor([image])
                if path == "segnet":
                    fn = lambda: predictor.logits(batch)  # noqa: E731
                else:
                    from segnet.core.checkpoint import model_from_checkpoint

                    model = model_from_checkpoint(ckpt, label).eval().to(device)
                    cl = path == "channels_last"
                    if cl:
                        model = model.to(memory_format=torch.channels_last)

                    def fn(model=model, cl=cl, dtype=predictor.amp_dtype):  # same input_scale as segnet
                        return forward_logits(model, batch, predictor.input_scale, None, dtype, cl)
                wall, cpu = _time(fn, args.frames)
                print(f"  {path:<14}{precision:<11}{wall:>9.3f}{1 / wall:>10.2f}{cpu:>13.3f}", flush=True)
                results.append({"model": label, "weights": weights, "path": path, "precision": precision,
                                "seconds_per_frame": wall, "frames_per_second": 1 / wall, "cpu_seconds_per_frame": cpu})
        if args.agree_frames and {"float32", "bfloat16"} <= set(predictors):
            root = args.data_root or default_data_root()
            agree, n = _agreement(predictors["float32"], predictors["bfloat16"], root, args.agree_frames)
            print(f"  bf16 vs float32 argmax (segnet path): {100 * agree:.3f}% of pixels agree on {n} CamVid test frames"
                  + ("  [random-init weights]" if weights.startswith("random") else ""))
            results.append({"model": label, "weights": weights, "agreement_bf16_fp32": agree, "agreement_frames": n})
    print(f"\nload average at end (1/5/15 min): {_load()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0
