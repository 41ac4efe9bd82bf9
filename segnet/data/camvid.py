"""CamVid in SegNet's layout: ``<split>/`` images and ``<split>annot/`` label maps, paired by name.

Pairing is checked when the dataset is built (names only, cheap); each file is checked when it is
read (decode failure, truncation, size mismatch, label range: segnet.data.images).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from segnet.core.choices import SPLITS
from segnet.data.classes import DatasetClasses, load_classes
from segnet.data.images import IMAGE_SUFFIXES, read_image, read_label
from segnet.errors import SegnetError

COMPOSITE_SPLITS = {"trainval": ("train", "val")}
# Pairs per split in SegNet's CamVid (360x480, 11 classes).
SEGNET_SPLIT_SIZES = {"train": 367, "val": 101, "test": 233}


def _list_images(folder: Path, errors: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        if p.stem in files:
            errors.append(f"two files with the same name in {folder}: {files[p.stem].name} and {p.name}")
            continue
        files[p.stem] = p
    return files


def scan_split(root: str | Path, split: str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(image, label) pairs of one split sorted by name, and every pairing problem found (names only)."""
    root = Path(root)
    if split in COMPOSITE_SPLITS:
        pairs, errors = [], []
        for part in COMPOSITE_SPLITS[split]:
            part_pairs, part_errors = scan_split(root, part)
            pairs += part_pairs
            errors += [e for e in part_errors if e not in errors]
        return pairs, errors
    if split not in SPLITS:
        raise SegnetError(f"unknown split {split!r}: expected one of {', '.join(SPLITS + tuple(COMPOSITE_SPLITS))}")
    if not root.is_dir():
        return [], [f"CamVid root not found: {root} (see data/README.md, or run `segnet data download`)"]
    image_dir, label_dir = root / split, root / f"{split}annot"
    missing = [f for f in (image_dir, label_dir) if not f.is_dir()]
    if missing:
        return [], [f"missing split folder {f} (expected SegNet layout {split}/ + {split}annot/)" for f in missing]
    errors: list[str] = []
    images, labels = _list_images(image_dir, errors), _list_images(label_dir, errors)
    if not images and not labels:
        return [], errors + [f"empty split: no images in {image_dir}"]
    for name in sorted(set(images) - set(labels)):
        errors.append(f"image without label: {images[name]} (no {label_dir}/{name}.*)")
    for name in sorted(set(labels) - set(images)):
        errors.append(f"label without image: {labels[name]} (no {image_dir}/{name}.*)")
    return [(images[n], labels[n]) for n in sorted(set(images) & set(labels))], errors


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) paths of one SegNet split, sorted by name; SegnetError on any pairing problem."""
    pairs, errors = scan_split(root, split)
    if errors:
        more = f" (and {len(errors) - 1} more problems; `segnet data check` lists them)" if len(errors) > 1 else ""
        raise SegnetError(errors[0] + more)
    return pairs


def read_pair(image_path: str | Path, label_path: str | Path,
              classes: DatasetClasses | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read and check one pair: RGB image and id map of the same size (``classes``: as read_label)."""
    image, label = read_image(image_path), read_label(label_path, classes)
    if image.shape[:2] != label.shape:
        # read_image applies EXIF orientation, read_label does not: name that cause when it fits
        turned = " (transposed: images are turned by their EXIF orientation, labels are read as stored)" \
            if image.shape[:2] == label.shape[::-1] else ""
        raise SegnetError(
            f"size mismatch: image {image_path} is {image.shape[0]}x{image.shape[1]}, "
            f"label {label_path} is {label.shape[0]}x{label.shape[1]}{turned}"
        )
    return image, label


class CamVid(Dataset):
    """A split of a dataset in CamVid's layout as (float image [3,H,W], long mask [H,W]); ``classes``
    from the root's classes.yaml (else CamVid's), void pixels = ``ignore_index`` = num_classes.

    ``transform`` is an albumentations Compose called as ``transform(image=, mask=)`` (see
    segnet.data.transforms); without one the full frame is returned, scaled to [0, 1].
    ``cache=True`` decodes (and checks) every pair once, here, and keeps the uint8 frames in RAM
    (train: ~250 MB); DataLoader workers forked afterwards share them, so an epoch costs no PNG
    decoding. Worth it for many epochs on a small CPU; pointless for one pass.
    """

    def __init__(self, root: str | Path, split: str, transform=None, cache: bool = False):
        self.root = Path(root)
        self.split = split
        self.transform = transform
        self.classes = load_classes(self.root)
        self.num_classes, self.ignore_index = self.classes.num_classes, self.classes.void_id
        self.pairs: list[tuple[Path, Path]] = find_pairs(self.root, split)
        self._frames = [read_pair(*pair, self.classes) for pair in self.pairs] if cache else None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self._frames[index] if self._frames is not None else read_pair(*self.pairs[index], self.classes)
        if self.transform is None:
            return torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0), torch.from_numpy(label).long()
        out = self.transform(image=image, mask=label)
        image, mask = out["image"], out["mask"]
        if not torch.is_tensor(image):  # a transform without ToTensorV2
            image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if not torch.is_tensor(mask):
            mask = torch.from_numpy(np.ascontiguousarray(mask))
        return image.float(), mask.long()

    def __repr__(self) -> str:
        return f"CamVid(root={str(self.root)!r}, split={self.split!r}, pairs={len(self.pairs)})"
