"""What a trained run of the encoder study (tools/encoder_study.py) costs and scores.

``measure_run`` reads what ``segnet train`` left in a run folder (config.yaml, best.pt) and measures:

- the test mIoU and per-class IoU of best.pt in float32 on torch (the model's own accuracy: the
  default CPU runtime may be INT8, segnet.deploy.int8_check, whose mIoU would be a property of
  the quantizer);
- trainable parameters and GFLOPs (``segnet.bench.models.gflops``) on a 360x480 frame and at the
  size the network really sees (input_scale);
- one training step of the run's recipe in a fresh process (``segnet.bench.train_step``, as
  ``segnet bench models``): its peak RSS above the process's size before the step, without the
  libraries' own footprint;
- the median wall and mean CPU seconds of predicting one test frame on the default runtime.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import yaml

from segnet.bench.models import gflops, trainable_parameters
from segnet.bench.predict import time_calls
from segnet.bench.train_step import run_in_subprocess
from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.checkpoints.model_card import ModelCard
from segnet.core.device import cpu_description
from segnet.data.camvid import find_pairs
from segnet.data.images import read_image
from segnet.deploy.loading import load_predictor
from segnet.jobs.evaluate import evaluate
from segnet.models import create_model

CAMVID_FRAME = (360, 480)  # height, width of a CamVid frame: the size GFLOPs are compared at


def step_peak_mib(run: Path, input_size: tuple[int, int]) -> float:
    """Peak MiB of one training step of the run's recipe, measured as ``segnet bench models`` does."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    crop = cfg["train"]["crop_size"]
    step = run_in_subprocess({"config": str(run / "config.yaml"), "overrides": [], "variant": "default", "repeats": 2,
                              "batch": cfg["train"]["batch_size"], "size": [crop, crop] if crop else list(input_size),
                              "device": "cpu", "threads": 1})
    return step["peak_step_mib"]


def measure_run(run: Path, data_root: Path, frames: int) -> dict[str, Any]:
    """The measured result.json fields of one trained run, on the CPU with one thread: network,
    step_peak_mib, test_miou, test_frames, params_m, gflops_360x480, gflops_input, infer_backend,
    infer_s_frame, infer_cpu_s_frame, threads, machine, iou_<class>. ``frames``: timed predictions
    (after one warm-up) of the first test frame of ``data_root``."""
    torch.set_num_threads(1)
    source = str(run / "best.pt")
    ckpt = load_checkpoint(source)
    card = ModelCard.from_checkpoint(ckpt, source)
    scaled = (round(CAMVID_FRAME[0] * card.input_scale), round(CAMVID_FRAME[1] * card.input_scale))
    step_mib = step_peak_mib(run, scaled)
    scores = evaluate(ckpt, source, data_root, split="test", device="cpu", amp="off", backend="torch", progress=False)
    net = create_model(card.model_name, card.classes.num_classes, **card.model_options).eval()
    predictor = load_predictor(ckpt, source, device="cpu")  # the runtime `segnet predict` picks here
    frame = read_image(find_pairs(data_root, "test")[0][0])
    wall, cpu = time_calls(lambda: predictor.predict([frame]), frames)  # median wall, mean CPU s per frame
    return {
        "network": card.model_name, "step_peak_mib": step_mib,
        "test_miou": scores["miou"], "test_frames": scores["num_images"],
        "params_m": trainable_parameters(net) / 1e6,
        "gflops_360x480": gflops(net, CAMVID_FRAME), "gflops_input": gflops(net, scaled),
        "infer_backend": f"{predictor.backend_name} {predictor.precision}", "infer_s_frame": wall,
        "infer_cpu_s_frame": cpu, "threads": torch.get_num_threads(),
        "machine": f"{cpu_description()}, load {os.getloadavg()[0]:.2f}",
        **{f"iou_{c}": v for c, v in scores["per_class_iou"].items()},
    }
