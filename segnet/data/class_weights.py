"""Median-frequency class balancing (Eigen & Fergus 2015; SegNet, FC-Log-DenseNet).

freq(c)   = pixels of class c / total pixels of the images in which c appears
weight(c) = median(freq over the real classes) / freq(c)

Void (id = num_classes) is ignored through ``ignore_index`` and gets no weight; its pixels still
count in an image's total, as in SegNet's reference numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from segnet.data.camvid import read_label
from segnet.data.classes import NUM_CLASSES
from segnet.errors import SegnetError

_CACHE_VERSION = 1


class FrequencyCounter:
    """Accumulates class pixels and the pixels of the images each class appears in, one map at a time."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        self.num_classes = num_classes
        self.class_pixels = np.zeros(num_classes, dtype=np.int64)
        self.image_pixels = np.zeros(num_classes, dtype=np.int64)
        self.count = 0

    def add(self, label: np.ndarray) -> None:
        counts = np.bincount(label.ravel(), minlength=self.num_classes + 1)[: self.num_classes]
        self.class_pixels += counts
        self.image_pixels += (counts > 0) * label.size
        self.count += 1

    def frequencies(self) -> np.ndarray:
        """freq(c) for c in 0..num_classes-1 (float64); 0 for a class that never appears."""
        if self.count == 0:
            raise SegnetError("class frequencies: no label files given")
        out = np.zeros(self.num_classes)
        return np.divide(self.class_pixels, self.image_pixels, out=out, where=self.image_pixels > 0)


def class_frequencies(label_paths: Sequence[str | Path], num_classes: int = NUM_CLASSES) -> np.ndarray:
    """freq(c) for c in 0..num_classes-1 (float64); 0 for a class that never appears."""
    counter = FrequencyCounter(num_classes)
    for path in label_paths:
        counter.add(read_label(path))
    return counter.frequencies()


def weights_from_frequencies(freq: np.ndarray) -> np.ndarray:
    """median(freq) / freq(c); the median is over classes that appear, absent classes get 0."""
    present = freq > 0
    if not present.any():
        raise SegnetError("median-frequency weights: no class appears in the label files")
    median = np.median(freq[present])
    return np.divide(median, freq, out=np.zeros_like(freq), where=present)


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def cache_path(label_paths: Sequence[str | Path], cache_dir: str | Path, num_classes: int = NUM_CLASSES) -> Path:
    """Where the weights of this exact file list (paths, sizes, mtimes) are cached."""
    paths = [Path(p) for p in label_paths]
    return Path(cache_dir) / f"median_frequency_{_file_list_key(paths, num_classes)[:24]}.json"


def median_frequency_weights(
    label_paths: Sequence[str | Path], num_classes: int = NUM_CLASSES, cache_dir: str | Path | None = None
) -> torch.Tensor:
    """FloatTensor[num_classes] of median-frequency weights (void excluded: it is the ignore index).

    With ``cache_dir`` the result is kept as JSON keyed by a hash of the file list (paths, sizes,
    modification times), so a changed or edited list is recomputed.
    """
    paths = [Path(p) for p in label_paths]
    cache = cache_path(paths, cache_dir, num_classes) if cache_dir is not None else None
    if cache is not None and cache.exists():
        weights = _read_cache(cache, num_classes)
        if weights is not None:
            return torch.tensor(weights, dtype=torch.float32)
    freq = class_frequencies(paths, num_classes)
    weights = weights_from_frequencies(freq)
    if cache is not None:
        _write_cache(cache, freq, weights, len(paths))
    return torch.tensor(weights, dtype=torch.float32)
