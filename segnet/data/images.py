"""Image and label-map files: decoding (EXIF orientation, palette PNGs, damaged files) and writing.

Decisions (see data/README.md):
- Images: PNG/JPEG/BMP/TIFF/WebP/GIF (its first frame), converted as image viewers show them
  (segnet.data.frames): 16-bit scaled to 8-bit, float TIFFs in 0..1 likewise, grayscale and RGBA
  to RGB; other channel counts and float values outside 0..1 are rejected. OpenCV decodes; Pillow
  reads what this OpenCV build cannot.
- Images are oriented as their EXIF tag says (as image viewers show them: a phone photo is
  not segmented sideways). Labels are read as stored.
- Labels: single-channel 8-bit maps of class ids, ignored pixels as the ignore id. A palette-mode
  ("P") PNG is read as its stored indices (the VOC/Cityscapes convention: the index is the class
  id, the palette only colours it for display). A 3-channel label map is converted through the
  classes' palette when every pixel is a palette colour, otherwise rejected.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from segnet.core.atomic import os_reason
from segnet.core.stderr import captured_stderr
from segnet.data.classes import CLASS_NAMES, PALETTE, VOID_NAME, DatasetClasses, classes_of_label, jpeg_hint
from segnet.data.frames import to_rgb, to_uint8
from segnet.errors import SegnetError

# Files read as images, by suffix (lower case): datasets, `segnet predict` inputs and uploads alike.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


# Images: keep the stored depth and channel count (16-bit is scaled, not clipped), apply EXIF orientation.
# Unlike IMREAD_UNCHANGED this drops an alpha channel, which read_image discards anyway.
IMAGE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
# Labels: exactly as stored (IMREAD_UNCHANGED also ignores EXIF orientation).
LABEL_FLAGS = cv2.IMREAD_UNCHANGED


def _decode(path: str | Path, flags: int, fallback: bool = False) -> np.ndarray:
    """cv2.imread once with ``flags``; SegnetError when the file cannot be decoded. ``fallback``:
    a file OpenCV cannot read is read by Pillow, its channels reordered to OpenCV's BGR."""
    path = Path(path)
    if not path.is_file():
        raise SegnetError(f"file not found: {path}")
    array, said = _imread_quietly(path, flags)
    if array is not None and said and path.suffix.lower() in (".jpg", ".jpeg"):
        # libjpeg decodes a damaged file with grey blocks and a warning (other codecs' warnings are benign)
        raise SegnetError(f"cannot decode {path}: corrupt or truncated JPEG ({said})")
    if array is None and fallback:
        array = _pillow_rgb(path)
        if array is not None and array.ndim == 3:
            array = np.ascontiguousarray(array[..., ::-1])
    if array is None:
        why = f" ({said})" if said else ""
        raise SegnetError(f"cannot decode {path}: unreadable, corrupt or truncated image file{why}")
    return array


def _pillow_rgb(path: Path) -> np.ndarray | None:
    """The file's first frame as an RGB (or 16-bit grey) array by Pillow, EXIF orientation applied; None
    when Pillow cannot read it either."""
    from PIL import ImageOps

    try:
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)
            image = ImageOps.exif_transpose(image)
            if image.mode.startswith("I;16"):
                return np.array(image, dtype=np.uint16)
            return np.array(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None


def readable_image(path: str | Path) -> bool:
    """Whether OpenCV or Pillow has a decoder for the file (its content is checked when it is read)."""
    if cv2.haveImageReader(str(path)):
        return True
    try:
        with Image.open(path):
            return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def _imread_quietly(path: Path, flags: int) -> tuple[np.ndarray | None, str]:
    """cv2.imread, with what the codec libraries print straight to file descriptor 2 (libjpeg's
    warnings, libpng's "Read Error") captured instead of shown: its first line is returned, for the
    one-line message of a file that fails."""
    with captured_stderr() as captured:
        array = cv2.imread(str(path), flags)
    lines = captured.text.splitlines()
    # "[ WARN..." is OpenCV's own log
    said = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("[")]
    return array, said[0] if said else ""


def read_image(path: str | Path) -> np.ndarray:
    """An image as HxWx3 uint8 RGB, EXIF orientation applied (16-bit, grayscale and RGBA files are
    converted: segnet.data.frames)."""
    array = to_uint8(_decode(path, IMAGE_FLAGS, fallback=True), str(path))
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        raise SegnetError(f"{path}: image has {array.shape[2]} channels, expected 1, 3 or 4")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[..., 2::-1]  # OpenCV's BGR(A) -> RGB, alpha dropped
    return np.ascontiguousarray(to_rgb(array, str(path)))


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
            f"{classes.ignore_index}) or those colours{jpeg_hint(path)}"
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


def write_png(path: str | Path, rgb_or_ids: np.ndarray) -> None:
    """PNG through OpenCV (RGB arrays are converted to its BGR order); SegnetError naming the file
    and the cause on failure. Encoded in memory and written here: cv2.imwrite reports a full disk
    as "libpng error: Write Error" on stderr and a bare False, a plain write as the OSError's errno."""
    array = rgb_or_ids
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = False, None
    with contextlib.suppress(cv2.error):
        ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise SegnetError(f"cannot write {path}: a {'x'.join(map(str, rgb_or_ids.shape))} {rgb_or_ids.dtype} array "
                          "cannot be encoded as PNG")
    try:
        with open(path, "wb") as f:
            f.write(encoded.tobytes())
    except OSError as exc:
        if not isinstance(exc, (FileNotFoundError, IsADirectoryError)):
            with contextlib.suppress(OSError):
                Path(path).unlink(missing_ok=True)  # a torn PNG would look like a result
        raise SegnetError(f"cannot write {path}: {os_reason(exc)}") from None
