"""Run a trained model on image files, folders, globs and videos.

Per image: ``<stem>_labels.png`` (uint8 class ids), ``<stem>_color.png`` (CamVid palette),
``<stem>_overlay.png``. Per video: ``<stem>_overlay.mp4`` at the input's fps and size
(``.avi`` when only the MJPG fallback encoder works), optionally input | overlay side by side.

All inputs are checked before anything is written, and every output is staged in a hidden
folder that moves into ``--out`` only when the whole job succeeded (segnet.inference.staging).
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from segnet.data.camvid import read_image
from segnet.inference.predictor import Predictor
from segnet.inference.staging import Staging, write_png
from segnet.inference.video import VIDEO_SUFFIXES, VideoReader, VideoWriter, check_video
from segnet.inference.visualize import colorize, overlay, side_by_side
from segnet.errors import SegnetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_GLOB_CHARS = set("*?[")


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # "image" or "video"


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _supported() -> str:
    return ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES + VIDEO_SUFFIXES)


def collect_inputs(specs: Iterable[str]) -> list[Input]:
    """Files, folders (non-recursive, sorted) and globs -> checked inputs; SegnetError on the first problem."""
    found: list[Input] = []
    for spec in specs:
        path = Path(spec)
        if not path.exists() and _GLOB_CHARS & set(spec):
            matches = [Path(m) for m in sorted(glob.glob(spec)) if Path(m).is_file()]
            items = [Input(m, _kind(m)) for m in matches if _kind(m)]
            if not items:
                raise SegnetError(f"no image or video matches {spec!r} (supported: {_supported()})")
            found += items
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _kind(p))
            if not files:
                raise SegnetError(f"folder {path} holds no image or video ({_supported()})")
            found += [Input(p, _kind(p)) for p in files]
        elif path.is_file():
            if _kind(path) is None:
                raise SegnetError(f"unsupported file type '{path.suffix or path.name}' for {path} (supported: {_supported()})")
            found.append(Input(path, _kind(path)))
        else:
            raise SegnetError(f"input not found: {path}")
    if not found:
        raise SegnetError("no input given")
    unique = list(dict.fromkeys(found))
    stems: dict[str, Path] = {}
    for item in unique:
        other = stems.setdefault(item.path.stem, item.path)
        if other != item.path:
            raise SegnetError(f"two inputs would write the same outputs ({item.path.stem}_*): {other} and {item.path}")
    for item in unique:
        if item.kind == "video":
            check_video(item.path)
        elif not item.path.stat().st_size or not cv2.haveImageReader(str(item.path)):
            raise SegnetError(f"cannot decode {item.path}: not a readable image file")
    return unique


# ----------------------------------------------------------------------------- running
def _batches(frames: Iterable[np.ndarray], batch_size: int) -> Iterator[list[np.ndarray]]:
    """Consecutive frames of equal size, at most ``batch_size`` at a time."""
    batch: list[np.ndarray] = []
    for frame in frames:
        if batch and (len(batch) == batch_size or frame.shape != batch[0].shape):
            yield batch
            batch = []
        batch.append(frame)
    if batch:
        yield batch


def predict_images(predictor: Predictor, paths: list[Path], stage: Staging, opacity: float,
                   batch_size: int, progress: bool = True) -> int:
    def named() -> Iterator[np.ndarray]:
        for p in paths:
            yield read_image(p)

    done = 0
    with tqdm(total=len(paths), unit="img", desc="images", disable=not progress, dynamic_ncols=True) as bar:
        for batch in _batches(named(), batch_size):
            for image, ids in zip(batch, predictor.predict(batch)):
                stem = paths[done].stem
                color = colorize(ids, predictor.palette)
                write_png(stage.path(f"{stem}_labels.png"), ids)
                write_png(stage.path(f"{stem}_color.png"), color)
                write_png(stage.path(f"{stem}_overlay.png"), overlay(image, color, opacity))
                done += 1
            bar.update(len(batch))
    return done


def predict_video(predictor: Predictor, path: Path, stage: Staging, opacity: float, batch_size: int,
                  with_input: bool = False, on_frames: Callable[[np.ndarray], None] | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Overlay video of ``path`` into the stage; ``on_frames(ids [N,H,W])`` sees every prediction."""
    with VideoReader(path) as reader:
        width, height = reader.size
        size = (2 * width if with_input else width, height)
        start, frames = time.perf_counter(), 0
        with VideoWriter(stage.path(f"{path.stem}_overlay"), reader.fps, size) as writer, tqdm(
            total=reader.frame_count, unit="frame", desc=path.name, disable=not progress, dynamic_ncols=True
        ) as bar:
            for batch in _batches(reader, batch_size):
                if batch[0].shape[:2] != (height, width):
                    raise SegnetError(f"{path}: frame size changes within the video")
                ids = predictor.predict(batch)
                if on_frames is not None:
                    on_frames(ids)
                for image, frame_ids in zip(batch, ids):
                    out = overlay(image, colorize(frame_ids, predictor.palette), opacity)
                    writer.write(side_by_side(image, out) if with_input else out)
                frames += len(batch)
                bar.update(len(batch))
        seconds = time.perf_counter() - start
    return {"input": str(path), "output": writer.path.name, "codec": writer.codec, "frames": frames,
            "fps": reader.fps, "seconds": seconds, "frames_per_second": frames / max(seconds, 1e-9)}


def run_predict(predictor: Predictor, inputs: list[Input], out: str | Path, opacity: float = 0.5,
                with_input: bool = False, batch_size: int = 1, progress: bool = True) -> dict[str, Any]:
    """Everything or nothing into ``out``; returns counts and video throughput."""
    if not 0.0 <= opacity <= 1.0:
        raise SegnetError(f"--opacity must be in [0, 1], got {opacity}")
    if batch_size < 1:
        raise SegnetError(f"--batch-size must be >= 1, got {batch_size}")
    images = [i.path for i in inputs if i.kind == "image"]
    videos = [i.path for i in inputs if i.kind == "video"]
    summary: dict[str, Any] = {"images": 0, "videos": []}
    with Staging(out) as stage:
        if images:
            summary["images"] = predict_images(predictor, images, stage, opacity, batch_size, progress)
        for video in videos:
            summary["videos"].append(predict_video(predictor, video, stage, opacity, batch_size, with_input,
                                                   progress=progress))
    return summary
