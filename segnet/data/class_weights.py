"""Median-frequency class balancing, in the two definitions the papers' code bases use.

``median_frequency`` (Eigen & Fergus 2015, sec. 4.2; the default where a recipe weights):
    freq(c)   = pixels of class c / total pixels of the images in which c appears
    weight(c) = median(freq over the real classes that appear) / freq(c)
    Void (id = num_classes) is ignored through ``ignore_index`` and gets no weight; its pixels
    still count in an image's total.

``median_frequency_global`` (the official FC-Log-DenseNet code, EchoWho/AnytimeNeuralNetwork_public
tensorpack/dataflow/dataset/camvid.py:48-50, used by anytime_models/examples/fcdense-ann.py:273):
    freq(c)   = pixels of class c / all pixels, for the 11 classes *and void*
    weight(c) = sorted(freq)[12 // 2] / freq(c)  (the upper median of 12 values, void included)
    The code's table gives Fence 3.98 and Bicyclist 15.38.

Neither reproduces the weights SegNet published in its Caffe prototxt (e.g. SignSymbol 9.64,
against 3.85 here on the same train split); we do not claim to match them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from segnet.core.atomic import atomic_write
from segnet.data.classes import NUM_CLASSES
from segnet.data.images import read_label
from segnet.errors import SegnetError

_CACHE_VERSION = 1


class FrequencyCounter:
    """Accumulates class pixels and the pixels of the images each class appears in, one map at a time."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        self.num_classes = num_classes
        self.class_pixels = np.zeros(num_classes, dtype=np.int64)
        self.image_pixels = np.zeros(num_classes, dtype=np.int64)
        self.void_pixels = 0
        self.total_pixels = 0
        self.count = 0

    def add(self, label: np.ndarray) -> None:
        counts = np.bincount(label.ravel(), minlength=self.num_classes + 1)
        self.class_pixels += counts[: self.num_classes]
        self.image_pixels += (counts[: self.num_classes] > 0) * label.size
        self.void_pixels += int(counts[self.num_classes:].sum())
        self.total_pixels += label.size
        self.count += 1

    def frequencies(self) -> np.ndarray:
        """freq(c) for c in 0..num_classes-1 (float64); 0 for a class that never appears."""
        if self.count == 0:
            raise SegnetError("class frequencies: no label files given")
        out = np.zeros(self.num_classes)
        return np.divide(self.class_pixels, self.image_pixels, out=out, where=self.image_pixels > 0)

    def global_frequencies(self) -> np.ndarray:
        """Share of all pixels for c in 0..num_classes-1 and void last (float64, sums to 1)."""
        if self.count == 0:
            raise SegnetError("class frequencies: no label files given")
        return np.append(self.class_pixels, self.void_pixels) / self.total_pixels


DEFINITIONS = ("median_frequency", "median_frequency_global")


def class_frequencies(
    label_paths: Sequence[str | Path], num_classes: int = NUM_CLASSES, definition: str = "median_frequency"
) -> np.ndarray:
    """freq(c) for c in 0..num_classes-1 (float64; 0 for a class that never appears); with
    ``median_frequency_global`` the global shares, void last (num_classes + 1 values)."""
    counter = FrequencyCounter(num_classes)
    for path in label_paths:
        counter.add(read_label(path))
    return counter.global_frequencies() if definition == "median_frequency_global" else counter.frequencies()


def weights_from_frequencies(freq: np.ndarray) -> np.ndarray:
    """median(freq) / freq(c); the median is over classes that appear, absent classes get 0."""
    present = freq > 0
    if not present.any():
        raise SegnetError("median-frequency weights: no class appears in the label files")
    median = np.median(freq[present])
    return np.divide(median, freq, out=np.zeros_like(freq), where=present)


def weights_from_global_frequencies(freq: np.ndarray) -> np.ndarray:
    """The Log-DenseNet code's rule: upper median of all shares (void included) / freq(c),
    for the real classes only (void, last, is the ignore index); absent classes get 0."""
    median = np.sort(freq)[len(freq) // 2]
    real = freq[:-1]
    return np.divide(median, real, out=np.zeros_like(real), where=real > 0)


_RULES = {"median_frequency": weights_from_frequencies, "median_frequency_global": weights_from_global_frequencies}


def _file_list_key(paths: Sequence[Path], num_classes: int) -> str:
    digest = hashlib.sha256(f"v{_CACHE_VERSION} classes={num_classes}\n".encode())
    for p in paths:
        st = p.stat()
        digest.update(f"{p.resolve()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _read_cache(path: Path, num_classes: int) -> np.ndarray | None:
    try:
        data = json.loads(path.read_text())
        weights = np.asarray(data["weights"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or damaged cache: recompute
    return weights if weights.shape == (num_classes,) else None


def _write_cache(path: Path, freq: np.ndarray, weights: np.ndarray, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": _CACHE_VERSION, "files": count, "frequencies": freq.tolist(), "weights": weights.tolist()}
    with atomic_write(path, "w") as f:  # the umask's mode (a tempfile.mkstemp file stays 0600)
        json.dump(payload, f, indent=1)


def cache_path(
    label_paths: Sequence[str | Path], cache_dir: str | Path, num_classes: int = NUM_CLASSES,
    definition: str = "median_frequency",
) -> Path:
    """Where the weights of this exact file list (paths, sizes, mtimes) and definition are cached."""
    paths = [Path(p) for p in label_paths]
    return Path(cache_dir) / f"{definition}_{_file_list_key(paths, num_classes)[:24]}.json"


def median_frequency_weights(
    label_paths: Sequence[str | Path], num_classes: int = NUM_CLASSES, cache_dir: str | Path | None = None,
    definition: str = "median_frequency",
) -> torch.Tensor:
    """FloatTensor[num_classes] of median-frequency weights (void excluded: it is the ignore index).

    ``definition``: one of ``DEFINITIONS`` (module docstring). With ``cache_dir`` the result is
    kept as JSON keyed by the definition and a hash of the file list (paths, sizes,
    modification times), so a changed or edited list is recomputed.
    """
    if definition not in _RULES:
        raise SegnetError(f"unknown class weighting '{definition}' (valid: {', '.join(DEFINITIONS)})")
    paths = [Path(p) for p in label_paths]
    cache = cache_path(paths, cache_dir, num_classes, definition) if cache_dir is not None else None
    if cache is not None and cache.exists():
        weights = _read_cache(cache, num_classes)
        if weights is not None:
            return torch.tensor(weights, dtype=torch.float32)
    freq = class_frequencies(paths, num_classes, definition)
    weights = _RULES[definition](freq)
    if cache is not None:
        _write_cache(cache, freq, weights, len(paths))
    return torch.tensor(weights, dtype=torch.float32)
