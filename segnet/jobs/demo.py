"""The demo: a model on CamVid's Seq05VD test sequence, as a video, scored against its labels.

1. The 171 frames ``test/Seq05VD_*.png`` (one per second of driving, in time order) are
   assembled into ``Seq05VD.mkv`` at 5 frames/s (a 34 s clip: at 1 frame per second of real
   time, faster playback makes cars jump between frames). The clip is lossless (FFV1) when
   this OpenCV can write it, so the IoU below is exactly that of the PNG frames; otherwise
   MPEG-4 ``.mp4`` (the IoU is then on compressed frames).
2. The model runs on that video (segnet.jobs.predict.predict_video):
   ``Seq05VD_overlay.webm`` with a legend, and its frames/s.
3. Its predictions are scored against ``testannot/``: per-class IoU, written as metrics.json,
   per_class_iou.csv and confusion_matrix.png.
Everything lands in ``out`` at once when all steps succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segnet.core.defaults import DEMO_FPS, DEMO_SEQUENCE
from segnet.core.metrics import SegmentationMetrics
from segnet.data.camvid import find_pairs
from segnet.data.classes import NUM_CLASSES, VOID_ID
from segnet.data.images import read_image, read_label
from segnet.errors import SegnetError
from segnet.inference.predictor import Predictor
from segnet.jobs.evaluate import summarize, write_metrics_files
from segnet.jobs.predict import OutputOptions, predict_video
from segnet.jobs.staging import Staging
from segnet.jobs.video import VideoWriter

INPUT_CODECS = (("FFV1", ".mkv"), ("mp4v", ".mp4"), ("MJPG", ".avi"))


def sequence_pairs(data_root: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(frame, label) paths of the Seq05VD frames of CamVid's test split, in time order."""
    pairs = [p for p in find_pairs(data_root, "test") if p[0].name.startswith(f"{DEMO_SEQUENCE}_")]
    if not pairs:
        raise SegnetError(f"no {DEMO_SEQUENCE}_*.png frames in {Path(data_root) / 'test'}")
    return pairs


def run_demo(predictor: Callable[[], Predictor], model_name: str, source: str, data_root: str | os.PathLike,
             out: str | os.PathLike, fps: float = DEMO_FPS, options: OutputOptions | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Steps 1-3 above into ``out``; returns the clip, the overlay video and its speed, and the
    metrics.json content (``report``). ``predictor`` gives the model to run, once the frames are found."""
    options = options or OutputOptions()
    if fps <= 0:
        raise SegnetError(f"fps must be positive, got {fps:g}")
    pairs = sequence_pairs(data_root)
    runner = predictor()
    if runner.num_classes != NUM_CLASSES:
        raise SegnetError(f"{source}: model has {runner.num_classes} classes, CamVid has {NUM_CLASSES}")
    labels = iter(read_label(label) for _, label in pairs)
    metrics = SegmentationMetrics(NUM_CLASSES, VOID_ID)

    def score(ids: np.ndarray) -> None:
        for frame_ids in ids:
            target = next(labels)
            if target.shape != frame_ids.shape:
                raise SegnetError(f"label size {target.shape} differs from the video frame size {frame_ids.shape}")
            metrics.update(torch.from_numpy(frame_ids).long(), torch.from_numpy(target).long())

    with Staging(out) as stage:
        first = read_image(pairs[0][0])
        with VideoWriter(stage.path(DEMO_SEQUENCE), fps, (first.shape[1], first.shape[0]), codecs=INPUT_CODECS) as clip:
            for image, _ in pairs:
                clip.write(read_image(image))
        video = predict_video(runner, clip.path, stage, options, on_frames=score, progress=progress)
        if video["frames"] != len(pairs):
            raise SegnetError(f"{clip.path.name}: read back {video['frames']} frames, wrote {len(pairs)}")
        report = {"checkpoint": source, "model_name": model_name, "split": f"test/{DEMO_SEQUENCE}",
                  "num_images": len(pairs), **summarize(metrics, list(runner.class_names)),
                  "settings": {"video": clip.path.name, "codec": clip.codec, "precision": runner.precision,
                               "device": str(runner.device), "tta": runner.tta or "none",
                               "frames_per_second": video["frames_per_second"]}}
        write_metrics_files(report, stage,
                            title=f"{model_name} on CamVid {DEMO_SEQUENCE} (mIoU {100 * report['miou']:.1f})")
    return {"clip": Path(out) / clip.path.name, "codec": clip.codec, "fps": fps, "overlay": Path(out) / video["output"],
            "frames": video["frames"], "frames_per_second": video["frames_per_second"],
            "precision": runner.precision, "threads": torch.get_num_threads(), "report": report}
