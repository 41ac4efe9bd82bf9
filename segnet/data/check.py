"""``segnet data check``: scan every CamVid file and collect every problem instead of stopping at one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from segnet.core.choices import SPLITS
from segnet.data.camvid import COMPOSITE_SPLITS, SEGNET_SPLIT_SIZES, read_pair, scan_split
from segnet.data.class_weights import FrequencyCounter, weights_from_frequencies
from segnet.data.classes import CAMVID, DatasetClasses, load_classes
from segnet.data.images import palette_colour_conflict
from segnet.errors import SegnetError

_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = (5, 6, 7, 8)  # orientations that swap height and width


def header_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) of an image as read_image returns it (EXIF rotation applied), from the
    file's header alone; None when the header is unreadable (the full read reports why)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(_EXIF_ORIENTATION) in _QUARTER_TURNS:
                width, height = height, width
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return height, width


def smallest_frame(paths: Iterable[str | Path]) -> tuple[Path, tuple[int, int]] | None:
    """The image with the shortest side among ``paths`` and its (height, width), headers only."""
    sizes = ((Path(p), header_size(p)) for p in paths)
    return min(((p, s) for p, s in sizes if s is not None), key=lambda ps: min(ps[1]), default=None)


def crop_problem(key: str, crop_size: int, smallest: tuple[Path, tuple[int, int]] | None, scale: float,
                 dataset: str | Path) -> str | None:
    """Why ``crop_size`` cannot be cut from the ``smallest`` frame (smallest_frame's answer) at
    ``scale``, or None when it fits. Scaled as segnet.inference.preprocess.scaled_size (rounded
    down), the rule training resizes by."""
    if smallest is None:
        return None
    path, (height, width) = smallest
    scaled = tuple(max(1, int(side * scale)) for side in (height, width))
    if crop_size <= min(scaled):
        return None
    return (f"config key '{key}' = {crop_size}: larger than the {scaled[0]}x{scaled[1]} frames of {dataset} at "
            f"data.scale={scale} (smallest frame {height}x{width}: {path.name}); use a smaller {key} or a larger "
            "data.scale")


@dataclass
class CheckReport:
    root: Path
    pairs: dict[str, int] = field(default_factory=dict)  # readable-or-not pairs per split, trainval too
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    classes: DatasetClasses = CAMVID  # the root's classes.yaml, else CamVid's
    frequencies: np.ndarray | None = None  # train split, one per class
    weights: np.ndarray | None = None
    weight_maps: int = 0  # train label maps the weights come from

    @property
    def ok(self) -> bool:
        return not self.errors


def check_camvid(root: str | Path, progress: bool = False, scale: float = 1.0,
                 crop_size: int | None = None) -> CheckReport:
    """Pair every split, decode and check every file, and compute train class statistics.
    ``crop_size``: warn when train frames at ``scale`` (data.scale) are smaller than that crop."""
    report = CheckReport(root=Path(root))
    try:
        report.classes = load_classes(root)
    except SegnetError as exc:  # every label check would repeat it
        report.errors.append(str(exc))
        return report
    counter = FrequencyCounter(report.classes.num_classes)
    conflicts: list[str] = []
    train_images: list[Path] = []
    for split in SPLITS:
        if split == "test" and _absent(Path(root), split):
            report.pairs[split] = 0
            report.warnings.append(f"no test split in {root} (no test/ or testannot/): training works without "
                                   "one; segnet evaluate --split test needs it")
            continue
        pairs, errors = scan_split(root, split)
        report.errors += [e for e in errors if e not in report.errors]
        report.pairs[split] = len(pairs)
        expected = SEGNET_SPLIT_SIZES[split]
        if pairs and len(pairs) != expected and report.classes == CAMVID:
            report.warnings.append(f"{split}: {len(pairs)} pairs, SegNet's CamVid has {expected}")
        for image_path, label_path in tqdm(pairs, desc=f"checking {split}", disable=not progress, leave=False):
            try:
                _, label = read_pair(image_path, label_path, report.classes)
            except SegnetError as exc:
                report.errors.append(str(exc))
                continue
            if report.classes == CAMVID and (conflict := palette_colour_conflict(label_path)):
                conflicts.append(conflict)
            if split == "train":
                counter.add(label)
                train_images.append(image_path)
    if conflicts:  # one warning, not one per frame
        more = f" ({len(conflicts) - 1} more label maps like it)" if len(conflicts) > 1 else ""
        report.warnings.append(conflicts[0] + more)
    if crop_size is not None and (problem := crop_problem("train.crop_size", crop_size, smallest_frame(train_images),
                                                          scale, root)):
        report.warnings.append(problem)
    for name, parts in COMPOSITE_SPLITS.items():
        report.pairs[name] = sum(report.pairs[p] for p in parts)
    if counter.count:
        report.frequencies = counter.frequencies()
        report.weights = weights_from_frequencies(report.frequencies)
        report.weight_maps = counter.count
    return report


def _absent(root: Path, split: str) -> bool:
    """Neither folder of ``split`` exists in a dataset folder that does."""
    return root.is_dir() and not (root / split).exists() and not (root / f"{split}annot").exists()


def format_report(report: CheckReport) -> str:
    """The human-readable text that ``segnet data check`` prints."""
    classes = report.classes
    lines = [f"{'CamVid' if classes == CAMVID else 'dataset'} at {report.root}", "", f"{'split':<10}{'pairs':>6}"]
    lines += [f"{split:<10}{count:>6}" for split, count in report.pairs.items()]
    if report.frequencies is not None:
        width = max(12, *(len(n) + 2 for n in (*classes.names, classes.ignore_name)))
        lines += [
            "",
            f"class pixel frequencies and median-frequency weights (train, {report.weight_maps} label maps):",
            f"{'id':>3}  {'class':<{width}}{'freq':>8}{'weight':>9}",
        ]
        for i, name in enumerate(classes.names):
            lines.append(f"{i:>3}  {name:<{width}}{report.frequencies[i]:>8.4f}{report.weights[i]:>9.4f}")
        lines.append(f"{classes.ignore_index:>3}  {classes.ignore_name:<{width}}{'-':>8}{0.0:>9.4f}  (ignored)")
    if report.warnings:
        lines += ["", f"warnings ({len(report.warnings)}):"] + [f"  {w}" for w in report.warnings]
    lines.append("")
    if report.errors:
        lines += [f"errors ({len(report.errors)}):"] + [f"  {e}" for e in report.errors]
        lines.append(f"FAILED: {len(report.errors)} problem(s) in {report.root}")
    else:
        lines.append("OK: every pair is readable and consistent")
    return "\n".join(lines)
