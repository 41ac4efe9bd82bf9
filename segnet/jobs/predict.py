"""Run a trained model on images, videos, cameras and streams (inputs: segnet.jobs.inputs).

Per image: ``<name>_labels.png`` (uint8 class ids), ``<name>_color.png`` (dataset palette),
``<name>_overlay.png``. Per video, camera or stream: ``<name>_overlay.webm`` (VP8, which
browsers play; ``.mp4``/``.avi`` when this OpenCV lacks it) at the input's fps and size, with a
legend, and with ``save_frames`` ``<name>_frames/000123_labels.png`` and ``_color.png`` per frame.

Files: every output is staged in a hidden folder that moves into ``--out`` only when the whole
job succeeded (segnet.jobs.staging). Live sources (cameras, URLs) end when the stream
does, after ``max_frames``, on Ctrl-C or when the window is closed with q/Esc; what was
segmented until then is kept, the video finalised.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from segnet.data.images import read_image, write_png
from segnet.errors import SegnetError
from segnet.inference.predictor import Predictor
from segnet.jobs.inputs import MANIFEST, Input, check_inputs_kept, collect_inputs, written_by_segnet
from segnet.jobs.staging import Staging
from segnet.jobs.video import VideoReader, VideoWriter, gui_problem
from segnet.jobs.visualize import Painter, side_by_side

__all__ = ["Input", "OutputOptions", "collect_inputs", "predict_images", "predict_video", "run_predict"]
WINDOW = "segnet"


@dataclass(frozen=True)
class OutputOptions:
    """What to write. ``legend`` None: on for videos and streams, off for images (whose colour
    maps stay exact palette images). Checked when built: messages name the value, not a flag."""

    opacity: float = 0.5
    with_input: bool = False
    legend: bool | None = None
    save_frames: bool = False
    max_frames: int | None = None
    show: bool = False
    batch_size: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.opacity <= 1.0:
            raise SegnetError(f"opacity must be in [0, 1], got {self.opacity:g}")
        if self.batch_size < 1:
            raise SegnetError(f"batch size must be >= 1, got {self.batch_size}")
        if self.max_frames is not None and self.max_frames < 1:
            raise SegnetError(f"max frames must be >= 1, got {self.max_frames}")
        if self.show and (problem := gui_problem()):
            raise SegnetError(f"cannot show frames: {problem}")


class OutputStage(Staging):
    """Staging for outputs in sub-folders (mirrored inputs, frame folders) of an --out that may
    already hold files: commit merges file by file (a frame folder replaces the old one whole,
    so no frames of an earlier, longer run remain) and lists what it wrote in each folder's
    manifest, so later runs never read these files back as inputs."""

    def __init__(self, out: str | os.PathLike):
        super().__init__(out)
        self.whole: set[str] = set()  # staged folders that replace their namesake in out

    def replace_whole(self, name: str) -> None:
        self.whole.add(name)

    def commit(self) -> list[Path]:
        assert self.root is not None
        written: dict[Path, set[str]] = {}
        whole = [self.root / name for name in self.whole if (self.root / name).is_dir()]
        units = whole + [p for p in self.root.rglob("*") if p.is_file() and not any(d in p.parents for d in whole)]
        moved = []
        for item in sorted(units):
            target = self.out / item.relative_to(self.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if item.is_dir() and target.is_dir():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.replace(target, old / target.name)
                os.replace(item, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(item, target)
            written.setdefault(target.parent, set()).add(target.name)
            moved.append(target)
        for folder, names in written.items():
            names |= written_by_segnet(folder)
            tmp = folder / f"{MANIFEST}.{os.getpid()}.tmp"  # open(), not mkstemp: the umask's mode, not 0600
            tmp.write_text("\n".join(sorted(names)) + "\n", encoding="utf-8")
            os.replace(tmp, folder / MANIFEST)
        return moved


def _staged(stage: Staging, name: str) -> Path:
    """Where to stage output ``name``, which may sit in a sub-folder (mirrored inputs, frames)."""
    path = stage.path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _batches(frames: Iterable[tuple[int, np.ndarray]], batch_size: int) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """(indices, frames): consecutive (index, frame) pairs of equal frame size, at most ``batch_size``
    at a time. A full batch goes out before the next frame is read (a live source's next frame is
    then the newest one)."""
    indices: list[int] = []
    batch: list[np.ndarray] = []
    for index, frame in frames:
        if batch and frame.shape != batch[0].shape:
            yield indices, batch
            indices, batch = [], []
        indices.append(index)
        batch.append(frame)
        if len(batch) == batch_size:
            yield indices, batch
            indices, batch = [], []
    if batch:
        yield indices, batch


def predict_images(predictor: Predictor, items: list[Input], stage: Staging, options: OutputOptions,
                   progress: bool = True) -> dict[str, Any]:
    painter, legend = Painter(predictor.card.classes, options.opacity), bool(options.legend)
    start, done = time.perf_counter(), 0
    with tqdm(total=len(items), unit="img", desc="images", disable=not progress, dynamic_ncols=True) as bar:
        for _, batch in _batches(enumerate(read_image(i.path) for i in items), options.batch_size):
            for image, ids in zip(batch, predictor.predict(batch)):
                name = items[done].name
                write_png(_staged(stage, f"{name}_labels.png"), ids)
                write_png(_staged(stage, f"{name}_color.png"), painter.color(ids, legend))
                write_png(_staged(stage, f"{name}_overlay.png"), painter.overlay(image, ids, legend))
                done += 1
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    return {"images": done, "seconds": seconds, "images_per_second": done / max(seconds, 1e-9)}


def _show(frame: np.ndarray) -> bool:
    """Show a frame; True when the user asked to stop (q or Esc, or the window was closed)."""
    cv2.imshow(WINDOW, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    key = cv2.waitKey(1) & 0xFF
    return key in (ord("q"), 27) or cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1


@contextlib.contextmanager
def _signals_stop(reader: VideoReader, stop: dict[str, str]) -> Iterator[None]:
    """While a live source runs, SIGINT (Ctrl-C) and SIGTERM (a service manager's stop) end it
    like the end of the stream, after the frame in hand is finished (its video frame and its
    label files, never half of them); a second signal interrupts at once. Installed here
    because a job started in the background gets SIGINT ignored, and SIGTERM would otherwise
    kill the process with the video unfinished."""
    if not reader.live or threading.current_thread() is not threading.main_thread():
        yield
        return

    def request(signum, frame) -> None:
        if stop:
            raise KeyboardInterrupt
        stop["reason"] = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        reader.request_stop()

    saved = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def predict_video(predictor: Predictor, item: Input | Path, stage: Staging, options: OutputOptions,
                  on_frames: Callable[[np.ndarray], None] | None = None, progress: bool = True) -> dict[str, Any]:
    """Overlay video of a file, camera or stream into the stage; ``on_frames(ids [N,H,W])`` sees
    every prediction. A live source stops on Ctrl-C or SIGTERM keeping what was segmented (``stopped``)."""
    item = item if isinstance(item, Input) else Input(Path(item), "video", Path(item).stem)
    painter, legend = Painter(predictor.card.classes, options.opacity), options.legend is not False
    frames, written, stopped, signalled = 0, 0, None, {}
    if options.save_frames and isinstance(stage, OutputStage):
        stage.replace_whole(f"{item.name}_frames")
    with VideoReader(item.source) as reader, _signals_stop(reader, signalled):
        width, height = reader.size
        size = (2 * width if options.with_input else width, height)
        total = min(filter(None, (reader.frame_count, options.max_frames)), default=None)
        start = time.perf_counter()
        with VideoWriter(_staged(stage, f"{item.name}_overlay"), reader.fps, size) as writer, tqdm(
            total=total, unit="frame", desc=Path(item.name).name, disable=not progress, dynamic_ncols=True
        ) as bar:
            try:
                for indices, batch in _batches(islice(reader.frames(), options.max_frames), options.batch_size):
                    if batch[0].shape[:2] != (height, width):
                        raise SegnetError(f"{item.label}: frame size changes within the video")
                    ids = predictor.predict(batch)
                    if on_frames is not None:
                        on_frames(ids)
                    for index, image, frame_ids in zip(indices, batch, ids):
                        out = painter.overlay(image, frame_ids, legend)
                        # frames a real-time source sent meanwhile repeat this one: the video keeps time
                        for _ in range(index + 1 - written):
                            writer.write(side_by_side(image, out) if options.with_input else out)
                        written = index + 1
                        if options.save_frames:
                            write_png(_staged(stage, f"{item.name}_frames/{index:06d}_labels.png"), frame_ids)
                            write_png(_staged(stage, f"{item.name}_frames/{index:06d}_color.png"),
                                      painter.color(frame_ids))
                        frames += 1
                        if options.show and _show(out):
                            stopped = "the viewer window"
                    bar.update(len(batch))
                    if stopped or signalled:
                        break
            finally:
                if options.show:
                    cv2.destroyAllWindows()
            stopped = stopped or signalled.get("reason")
        seconds = time.perf_counter() - start
    return {"input": item.label, "output": Path(writer.path).relative_to(stage.root).as_posix(), "codec": writer.codec,
            "browser_playable": writer.browser_playable, "frames": frames, "fps": reader.fps, "seconds": seconds,
            "frames_per_second": frames / max(seconds, 1e-9), "stopped": stopped, "source_frames": written,
            "frames_dir": f"{item.name}_frames" if options.save_frames else None}


def run_predict(predictor: Predictor, inputs: list[Input], out: str | Path, options: OutputOptions | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Everything or nothing into ``out`` (live sources: what they sent until stopped); returns
    counts and throughput. Streams run last, so stopping one never skips a file."""
    options = options or OutputOptions()
    check_inputs_kept(inputs, out, options.save_frames)
    images = [i for i in inputs if i.kind == "image"]
    videos = [i for i in inputs if i.kind == "video"] + [i for i in inputs if i.kind == "stream"]
    summary: dict[str, Any] = {"images": 0, "videos": []}
    with OutputStage(out) as stage:
        if images:
            summary.update(predict_images(predictor, images, stage, options, progress))
        for video in videos:
            summary["videos"].append(predict_video(predictor, video, stage, options, progress=progress))
            if summary["videos"][-1]["stopped"]:
                break
    return summary
