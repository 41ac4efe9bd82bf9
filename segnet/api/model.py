"""``segnet.load_model`` and the ``Model`` it returns: a trained network that segments RGB frames."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Union

import numpy as np

from segnet.core.model_card import ModelCard, rescale_mode as _rescale_mode
from segnet.data.classes import DatasetClasses
from segnet.errors import SegnetError

ImageLike = Union[np.ndarray, str, os.PathLike]
RUNS_DIR = Path("runs")
BUNDLED_NAMES = ("bundled", "camvid")


def resolve_source(source: str | os.PathLike | None) -> Path | None:
    """A checkpoint path for ``source``: None for the bundled model, a ``.pt`` file, a run folder
    (its best.pt, else last.pt) or a run name under ``runs/`` (the newest ``runs/<name>-*``)."""
    if source is None or str(source) in BUNDLED_NAMES:
        return None
    path = Path(source)
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
        runs = sorted(p for p in RUNS_DIR.glob(f"{path.name}-*") if p.is_dir()) if RUNS_DIR.is_dir() else []
        path = RUNS_DIR / path.name if (RUNS_DIR / path.name).is_dir() else (runs[-1] if runs else path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise SegnetError(f"run folder {path} holds no best.pt or last.pt")
    if not path.exists():
        raise SegnetError(f"no checkpoint, run folder or run name {str(source)!r} (run names are looked up in {RUNS_DIR}/)")
    return path


def load_model(source: str | os.PathLike | None = None, device: str = "auto", amp: str = "auto",
               tta: str | None = None, backend: str = "auto", rescale: str = "auto") -> Model:
    """Load a trained model, ready to predict.

    ``source``: None (or "bundled") for the CamVid model shipped with segnet; a checkpoint file;
    a run folder (its best.pt); or a run name looked up in ``runs/``. ``device``: "auto", "cpu",
    "cuda" or "cuda:N". ``amp``: "auto" (bf16 where the hardware has it), "off", "bf16", "fp16".
    ``tta``: None or "flip" (average with the mirrored frame). ``backend``: "auto", "torch",
    "openvino" or "onnxruntime" (segnet.inference.backends; an exported .onnx/.xml is a source too).
    ``rescale``: how frames of any size are resized for the network: "auto" ("frame" when the
    checkpoint records its training frame size, else "factor"), "frame" (as many pixels as a
    training frame, aspect ratio kept: the street at the scale the network learnt, whatever the
    camera's resolution) or "factor" (the training resize factor, for crops or fixed-pixel-size
    images); segnet.inference.predictor.network_scale.
    """
    from segnet.inference.bundled import resolve_checkpoint

    ckpt, path = resolve_checkpoint(resolve_source(source))
    return Model(ckpt, path, device=device, amp=amp, tta=tta, backend=backend, rescale=rescale)


class Model:
    """A checkpoint's network, ready to ``predict`` RGB frames and ``overlay`` the result.

    Attributes: ``classes`` (names, ``palette``, ``ignore_index``), ``card`` (the checkpoint's
    model name, options, preprocessing and meta), ``source`` (checkpoint path), ``device``,
    ``backend``, ``precision``. The network is put on its runtime at the first use that needs it
    (``predict``, ``device``, ...): ``evaluate`` with batch statistics and ``export`` never need it.
    """

    def __init__(self, ckpt: dict[str, Any], source: str = "checkpoint", device: str = "auto",
                 amp: str = "auto", tta: str | None = None, backend: str = "auto", rescale: str = "auto"):
        self.source = str(source)
        self.card: ModelCard = ModelCard.from_checkpoint(ckpt, self.source)  # malformed entries fail here
        self.amp, self.tta, self._device, self._backend, self.rescale = amp, tta, device, backend, rescale
        _rescale_mode(rescale, self.card, self.source)  # a wrong value fails here, not at the first frame
        self._ckpt = ckpt  # evaluate and export work on the checkpoint dict

    @cached_property
    def _predictor(self):
        from segnet.inference.predictor import Predictor

        return Predictor(self._ckpt, self.source, device=self._device, amp=self.amp, tta=self.tta, backend=self._backend,
                         rescale=self.rescale)

    @property
    def classes(self) -> DatasetClasses:
        """The classes the model was trained on: names, palette, ignore index."""
        return self.card.classes

    @property
    def name(self) -> str:
        """The architecture, e.g. fc_densenet103."""
        return self.card.model_name

    @property
    def device(self):
        """The torch.device the network runs on."""
        return self._predictor.device

    @property
    def backend(self) -> str:
        """The runtime that runs the network (torch, openvino, onnxruntime)."""
        return self._predictor.backend_name

    @property
    def precision(self) -> str:
        """float32, bfloat16 or float16: the arithmetic the forward pass uses."""
        return self._predictor.precision

    def predict(self, images: ImageLike | Sequence[ImageLike], batch_size: int = 1):
        """Class ids for one frame, a batch or a list.

        - HxWx3 uint8 RGB array, or an image path -> HxW uint8 array of class ids;
        - NxHxWx3 uint8 array (a batch) -> NxHxW uint8 array;
        - a list of arrays and/or paths (sizes may differ) -> list of HxW arrays.
        ``batch_size`` frames of the same size go through the network together.
        """
        if batch_size < 1:
            raise SegnetError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(images, np.ndarray) and images.ndim == 4:
            frames = [_check_frame(f, f"images[{i}]") for i, f in enumerate(images)]
            return np.stack(self._run(frames, batch_size)) if frames else np.zeros((0, *images.shape[1:3]), np.uint8)
        if isinstance(images, (list, tuple)):
            return self._run([_as_frame(f, f"images[{i}]") for i, f in enumerate(images)], batch_size)
        return self._run([_as_frame(images, "image")], 1)[0]

    def _run(self, frames: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        start = 0
        while start < len(frames):  # consecutive frames of one size share a forward pass
            end = start + 1
            while end < len(frames) and end - start < batch_size and frames[end].shape == frames[start].shape:
                end += 1
            out += list(self._predictor.predict(frames[start:end]))
            start = end
        return out

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """HxW class ids -> HxWx3 uint8 RGB in the model's palette (void in its colour), as
        ``segnet predict`` writes ``<name>_color.png``."""
        from segnet.inference.visualize import colorize

        return colorize(_check_labels(labels), self.classes.palette)

    def overlay(self, image: ImageLike, labels: np.ndarray, opacity: float = 0.5, legend: bool = False) -> np.ndarray:
        """The classes in bright overlay colours (segnet.inference.visualize.overlay_palette: several
        dataset colours vanish over a photo) blended over the image: HxWx3 uint8, as ``segnet predict``
        writes ``<name>_overlay.png``. ``legend=True`` writes the class names on their colours along
        the bottom edge (on images at least 200 pixels wide)."""
        from segnet.inference.visualize import Painter

        if not 0.0 <= opacity <= 1.0:
            raise SegnetError(f"opacity must be in [0, 1], got {opacity}")
        frame, labels = _as_frame(image, "image"), _check_labels(labels)
        if frame.shape[:2] != labels.shape:
            raise SegnetError(f"labels are {labels.shape[0]}x{labels.shape[1]}, the image {frame.shape[0]}x{frame.shape[1]}")
        return Painter(self.classes, opacity).overlay(frame, labels, legend)

    def describe(self) -> str:
        """One line: model name, source (and a bundle's recorded test mIoU), device and precision."""
        from segnet.inference.bundled import describe

        return f"{describe(self._ckpt, self.source)}; {self.device}, {self.precision}"

    def __repr__(self) -> str:
        return (f"Model({self.name}, {self.classes.num_classes} classes, {self.backend} on {self.device}, {self.precision}, "
                f"source={self.source!r})")


def _as_frame(item: ImageLike, what: str) -> np.ndarray:
    if isinstance(item, (str, os.PathLike)):
        from segnet.data.camvid import read_image

        return read_image(item)
    return _check_frame(item, what)


def _check_frame(frame: Any, what: str) -> np.ndarray:
    """An HxWx3 uint8 RGB array, or one SegnetError saying what is wrong with it."""
    if not isinstance(frame, np.ndarray):
        raise SegnetError(f"{what}: expected an HxWx3 uint8 RGB array or an image path, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise SegnetError(f"{what}: expected shape HxWx3 (RGB), got {frame.shape}")
    if frame.dtype != np.uint8:
        raise SegnetError(f"{what}: expected dtype uint8 (0..255), got {frame.dtype}")
    if min(frame.shape[:2]) < 1:
        raise SegnetError(f"{what}: empty image {frame.shape}")
    return frame


def _check_labels(labels: Any) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or labels.ndim != 2 or labels.dtype.kind not in "ui":
        shape = getattr(labels, "shape", type(labels).__name__)
        raise SegnetError(f"labels: expected an HxW integer array of class ids, got {shape}")
    if labels.size and labels.min() < 0:
        raise SegnetError(f"labels: class ids must be >= 0, got {labels.min()}")
    return labels
