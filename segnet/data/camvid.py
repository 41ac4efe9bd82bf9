"""CamVid in SegNet's layout: ``<split>/`` images and ``<split>annot/`` label maps, paired by name.

Decisions (see data/README.md):
- Images: 8-bit PNG/JPEG. Grayscale and RGBA images are converted to RGB; other channel counts
  and other bit depths are rejected.
- Images are oriented as their EXIF tag says (as image viewers show them: a phone photo is
  not segmented sideways). Labels are read as stored.
- Labels: single-channel 8-bit maps with ids 0..10 and void = 11. A palette-mode ("P") PNG is
  read as its stored indices (the VOC/Cityscapes convention: the index is the class id, the
  palette only colours it for display). A 3-channel label map is converted through the CamVid
  palette when every pixel is a palette colour, otherwise rejected.
- Pairing is checked when the dataset is built (names only, cheap); each file is checked when
  it is read (decode failure, truncation, size mismatch, label range).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from segnet.data.classes import CLASS_NAMES, PALETTE, VOID_NAME, DatasetClasses, classes_of_label, load_classes
from segnet.errors import SegnetError

SPLITS = ("train", "val", "test")
COMPOSITE_SPLITS = {"trainval": ("train", "val")}
# Pairs per split in SegNet's CamVid (360x480, 11 classes).
SEGNET_SPLIT_SIZES = {"train": 367, "val": 101, "test": 233}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


# Images: keep the stored depth and channel count (to reject 16-bit files), apply EXIF orientation.
# Unlike IMREAD_UNCHANGED this drops an alpha channel, which read_image discards anyway.
IMAGE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
# Labels: exactly as stored (IMREAD_UNCHANGED also ignores EXIF orientation).
LABEL_FLAGS = cv2.IMREAD_UNCHANGED


def _decode(path: str | Path, flags: int) -> np.ndarray:
    """cv2.imread once with ``flags``; SegnetError when the file cannot be decoded."""
    path = Path(path)
    if not path.is_file():
        raise SegnetError(f"file not found: {path}")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        array, warning = _imread_jpeg(path, flags)
        if array is not None and warning:  # libjpeg decodes a damaged file with grey blocks and a warning
            raise SegnetError(f"cannot decode {path}: corrupt or truncated JPEG ({warning})")
    else:
        array = cv2.imread(str(path), flags)
    if array is None:
        raise SegnetError(f"cannot decode {path}: unreadable, corrupt or truncated image file")
    return array


def _imread_jpeg(path: Path, flags: int) -> tuple[np.ndarray | None, str]:
    """cv2.imread, with the warnings libjpeg prints straight to file descriptor 2 captured."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            array = cv2.imread(str(path), flags)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = sink.read().decode(errors="replace").strip().splitlines()
    return array, lines[0].strip() if lines else ""


def read_image(path: str | Path) -> np.ndarray:
    """An image as HxWx3 uint8 RGB, EXIF orientation applied (grayscale and RGBA files are converted)."""
    array = _decode(path, IMAGE_FLAGS)
    if array.dtype != np.uint8:
        raise SegnetError(f"{path}: image must be 8-bit, got {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    channels = array.shape[2]
    if channels == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    raise SegnetError(f"{path}: image has {channels} channels, expected 1, 3 or 4")


def _palette_to_ids(rgb: np.ndarray, path: Path, classes: DatasetClasses) -> np.ndarray:
    """Map an HxWx3 RGB colour label map to class ids; every pixel must be a palette colour."""
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette = classes.palette
    palette_codes = (palette[:, 0].astype(np.int32) << 16) | (palette[:, 1].astype(np.int32) << 8) | palette[:, 2]
    order = np.argsort(palette_codes)
    sorted_codes = palette_codes[order]
    index = np.clip(np.searchsorted(sorted_codes, codes), 0, len(sorted_codes) - 1)
    bad = sorted_codes[index] != codes
    if bad.any():
        y, x = np.argwhere(bad)[0]
        colour = tuple(int(v) for v in rgb[y, x])
        raise SegnetError(
            f"{path}: 3-channel label map with colour {colour} at (row {y}, col {x}) that is not a "
            f"palette colour of its classes; labels must be class ids 0..{classes.num_classes - 1} (ignore "
            f"{classes.ignore_index}) or those colours"
        )
    return order[index].astype(np.uint8)


def _open_if_palette(path: str | Path) -> Image.Image | None:
    """The file opened by Pillow when it is palette-mode ("P"), else None (OpenCV reads those)."""
    try:
        with warnings.catch_warnings():  # a huge file's DecompressionBombWarning would be a stray stderr line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # not a file Pillow identifies: OpenCV reads it or names the problem
    if image.mode != "P":
        image.close()
        return None
    return image


def _palette_indices(path: Path) -> np.ndarray | None:
    """The stored indices of a palette-mode image, None for any other file.

    OpenCV has no flag to keep palette indices: it expands them to colours, which the CamVid
    palette then mis-maps (ids {0, 1} became {11, 1}).
    """
    image = _open_if_palette(path)
    if image is None:
        return None
    with image:
        try:
            return np.array(image, dtype=np.uint8)
        except (OSError, SyntaxError, ValueError) as exc:  # how Pillow reports a damaged file
            raise SegnetError(f"cannot decode {path}: corrupt or truncated palette image ({exc})") from None


def palette_colour_conflict(path: str | Path) -> str | None:
    """For a palette-mode label whose palette colours are all CamVid colours of *other* ids than
    its indices (a colour label converted with an adaptive palette), what read_label's index
    reading means for it; None for every other file. ``segnet data check`` warns with it."""
    image = _open_if_palette(path)
    if image is None:
        return None
    with image:
        try:
            ids = np.unique(np.asarray(image))
        except (OSError, SyntaxError, ValueError):
            return None  # a damaged file is read_label's to report
        palette = np.array(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    if ids.size == 0 or ids.max() >= len(palette):
        return None
    matches = (palette[ids][:, None, :] == PALETTE[None]).all(-1)  # [used index, CamVid id]
    if not matches.any(1).all():
        return None  # colours CamVid does not use: the palette only colours the ids for display
    differ = np.flatnonzero(matches.argmax(1) != ids)
    if differ.size == 0:
        return None
    i = differ[0]
    colour, name = tuple(int(v) for v in palette[ids[i]]), (CLASS_NAMES + [VOID_NAME])[matches[i].argmax()]
    return (f"{path}: palette-mode label read as its indices, but its palette gives them CamVid colours of "
            f"other classes (index {ids[i]} is coloured {colour}, CamVid's {name}); if the colours are the "
            "labels, save it as an RGB PNG")


def read_label(path: str | Path, classes: DatasetClasses | None = None) -> np.ndarray:
    """A label map as HxW uint8 class ids, ignored pixels as ``classes.void_id`` (CamVid: 0..10,
    void 11); palette-mode PNGs as their indices. ``classes``: default, those of the dataset the
    file sits in (``<root>/<split>annot/``: its classes.yaml, else CamVid's)."""
    path = Path(path)
    classes = classes if classes is not None else classes_of_label(path)
    array = _palette_indices(path)
    if array is None:
        array = _decode(path, LABEL_FLAGS)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 3:
        if array.shape[2] != 3 or array.dtype != np.uint8:
            raise SegnetError(
                f"{path}: label map has {array.shape[2]} channels ({array.dtype}), expected a "
                "single-channel id map or a 3-channel 8-bit palette map"
            )
        return _palette_to_ids(cv2.cvtColor(array, cv2.COLOR_BGR2RGB), path, classes)
    if array.dtype not in (np.uint8, np.uint16):
        raise SegnetError(f"{path}: label map must be 8-bit (or 16-bit) integers, got {array.dtype}")
    return classes.to_ids(array, str(path))


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
