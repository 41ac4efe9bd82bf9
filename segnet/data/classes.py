"""A dataset's classes: names, colours and the ignore label, read from its ``classes.yaml``.

A dataset folder may hold a ``classes.yaml`` at its root (format: data/README.md)::

    names: [background, road, car]
    colors: [[0, 0, 0], [128, 64, 128], [64, 0, 128]]   # one [r, g, b] per name
    ignore_index: 255                                     # label value of unlabelled pixels

Without one, a folder is CamVid and gets ``camvid_classes.yaml`` (bundled). Inside segnet the
ignored pixels always carry the id ``num_classes`` (``void_id``): ``to_ids`` maps the file's
ignore value to it when a label map is read, so the loss, the metrics and the palette (whose
extra last row is the void colour) need one convention only, whatever value the files use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from segnet.errors import SegnetError

CLASSES_FILE = "classes.yaml"
_KEYS = ("names", "colors", "ignore_index", "ignore_name", "ignore_color")


@dataclass(frozen=True)
class DatasetClasses:
    """Class names, one RGB colour per class, and the label value that marks ignored pixels.

    ``ignore_index`` is the value in the label files (CamVid: 11, many datasets: 255); it must
    be >= the number of classes so that it never hides a class id.
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_index: int
    ignore_name: str = field(default="void", compare=False)  # a label only: older checkpoints lack it
    ignore_color: tuple[int, int, int] | None = None  # None: black, or the first spare colour when a class is black

    def __post_init__(self) -> None:
        if not self.names or not all(isinstance(n, str) and n.strip() for n in self.names):
            raise SegnetError("classes: 'names' must be a non-empty list of non-empty strings")
        if len(set(self.names)) != len(self.names):
            dup = next(n for n in self.names if self.names.count(n) > 1)
            raise SegnetError(f"classes: name {dup!r} appears twice in 'names'")
        if len(self.names) > 255:  # ids and the void id must fit uint8 label maps
            raise SegnetError(f"classes: {len(self.names)} names, at most 255 are supported")
        if len(self.colors) != len(self.names):
            raise SegnetError(f"classes: {len(self.colors)} colors for {len(self.names)} names "
                              "(one [r, g, b] per name)")
        if self.ignore_color is None:
            object.__setattr__(self, "ignore_color", spare_colour(self.colors))
        for colour in (*self.colors, self.ignore_color):
            if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
                raise SegnetError(f"classes: colour {list(colour)} is not [r, g, b] with integers 0..255")
        self._check_colours_differ()
        if not isinstance(self.ignore_index, int) or not len(self.names) <= self.ignore_index <= 255:
            raise SegnetError(
                f"classes: ignore_index {self.ignore_index!r} must be an integer from {len(self.names)} "
                "(the number of classes) to 255, so that it is not a class id"
            )

    def _check_colours_differ(self) -> None:
        """A colour label map, a colour PNG and an overlay each tell the classes apart by colour only."""
        seen: dict[tuple[int, ...], str] = {}
        for name, colour in zip(self.names, self.colors):
            other = seen.setdefault(tuple(colour), name)
            if other != name:
                raise SegnetError(f"classes: '{other}' and '{name}' have the same colour {list(colour)}: "
                                  "give each class its own colour")
        if tuple(self.ignore_color) in seen:
            raise SegnetError(f"classes: '{seen[tuple(self.ignore_color)]}' has the ignore colour "
                              f"{list(self.ignore_color)} of '{self.ignore_name}' (ignore_color): give one of them "
                              "another colour")

    @classmethod
    def from_mapping(cls, spec: Any, source: str = "classes") -> DatasetClasses:
        """Build from the mapping a ``classes.yaml`` holds; SegnetError naming ``source`` otherwise."""
        if not isinstance(spec, dict):
            raise SegnetError(f"{source}: expected a mapping with names, colors and ignore_index")
        unknown = sorted(set(spec) - set(_KEYS))
        missing = [k for k in ("names", "colors", "ignore_index") if k not in spec]
        if unknown or missing:
            what = f"unknown key '{unknown[0]}'" if unknown else f"missing key '{missing[0]}'"
            raise SegnetError(f"{source}: {what} (keys: {', '.join(_KEYS)}; the last two are optional)")
        try:
            return cls(
                names=tuple(spec["names"] or ()),
                colors=tuple(tuple(c) for c in spec["colors"] or ()),
                ignore_index=spec["ignore_index"],
                ignore_name=str(spec.get("ignore_name", "void")),
                ignore_color=tuple(spec["ignore_color"]) if spec.get("ignore_color") is not None else None,
            )
        except SegnetError as exc:
            raise SegnetError(f"{source}: {str(exc).removeprefix('classes: ')}") from None
        except TypeError:
            raise SegnetError(f"{source}: 'names' and 'colors' must be lists (colors: lists of [r, g, b])") from None

    @classmethod
    def from_file(cls, path: str | Path) -> DatasetClasses:
        """Read a ``classes.yaml``; a YAML syntax error keeps its line number."""
        path = Path(path)
        try:
            spec = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            from segnet.config.messages import yaml_error

            raise yaml_error(path, exc) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SegnetError(f"cannot read {path}: {exc}") from None
        return cls.from_mapping(spec, str(path))

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], source: str = "checkpoint") -> DatasetClasses:
        """The classes a checkpoint records; entries older checkpoints lack are CamVid's when the
        class count is CamVid's, and an error naming ``source`` otherwise."""
        try:
            num_classes = int(ckpt.get("num_classes", CAMVID.num_classes))
            names = tuple(ckpt.get("class_names") or ())
            palette = [tuple(int(v) for v in row) for row in ckpt.get("palette") or ()]
            if num_classes == CAMVID.num_classes:
                names = names or CAMVID.names
                palette = palette if len(palette) >= num_classes else [*CAMVID.colors, CAMVID.ignore_color]
            if len(names) != num_classes or len(palette) < num_classes:
                raise SegnetError(f"{num_classes} classes but {len(names)} class names "
                                  f"and {len(palette)} palette colours")
            return cls(
                names=names, colors=tuple(palette[:num_classes]),
                ignore_index=int(ckpt.get("ignore_index", num_classes)),
                ignore_name=str(ckpt.get("ignore_name", CAMVID.ignore_name if names == CAMVID.names else "void")),
                ignore_color=_recorded_ignore_colour(palette, num_classes),
            )
        except SegnetError as exc:
            raise SegnetError(f"{source}: {str(exc).removeprefix('classes: ')}") from None
        except (TypeError, ValueError):
            raise SegnetError(f"{source}: malformed num_classes, class_names or palette entry") from None

    def to_checkpoint(self) -> dict[str, Any]:
        """The plain entries a checkpoint stores for these classes (see docs/DESIGN.md)."""
        return {"num_classes": self.num_classes, "class_names": list(self.names), "palette": self.palette.tolist(),
                "ignore_index": self.ignore_index, "ignore_name": self.ignore_name}

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def void_id(self) -> int:
        """The id ignored pixels carry inside segnet (after ``to_ids``): ``num_classes``."""
        return len(self.names)

    @cached_property
    def palette(self) -> np.ndarray:
        """(num_classes + 1) x 3 uint8 RGB: row i colours class i, the last row void."""
        return np.array([*self.colors, self.ignore_color], dtype=np.uint8)

    def to_ids(self, label: np.ndarray, source: str = "label map") -> np.ndarray:
        """Check a label map's values and return it as uint8 ids, ignored pixels as ``void_id``."""
        values = np.unique(label)
        bad = values[(values >= self.num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise SegnetError(
                f"{source}: label value {int(bad[0])} is neither a class id 0..{self.num_classes - 1} nor the "
                f"ignore index {self.ignore_index}{jpeg_hint(source)}"
            )
        ids = label.astype(np.uint8, copy=self.ignore_index != self.void_id)
        if self.ignore_index != self.void_id:
            ids[label == self.ignore_index] = self.void_id
        return ids


def jpeg_hint(source: str | Path) -> str:
    """For a label map stored as JPEG: why its values are not the ones it was saved with."""
    if Path(str(source)).suffix.lower() not in (".jpg", ".jpeg"):
        return ""
    return " (JPEG compression changes label values: save label maps as PNG, which keeps them exactly)"


def spare_colour(colors) -> tuple[int, int, int]:
    """The ignore colour when none is given: black, unless a class is black (then white, grey, ...)."""
    used = {tuple(c) for c in colors}
    return next(c for c in _SPARE_COLOURS if c not in used)


# 256 candidates for at most 255 classes: one is always free.
_SPARE_COLOURS = [(0, 0, 0), (255, 255, 255), (128, 128, 128)] + [(v, 0, 255 - v) for v in range(253)]


def _recorded_ignore_colour(palette: list, num_classes: int) -> tuple[int, int, int] | None:
    """A checkpoint's void row; None (a spare colour) when it is absent or a class's colour:
    checkpoints written before colours had to differ recorded black for both."""
    if len(palette) <= num_classes or tuple(palette[num_classes]) in {tuple(c) for c in palette[:num_classes]}:
        return None
    return tuple(palette[num_classes])


def load_classes(root: str | Path | None = None) -> DatasetClasses:
    """The classes of the dataset at ``root``: its ``classes.yaml``, else CamVid's."""
    path = Path(root) / CLASSES_FILE if root is not None else None
    if path is None or not path.is_file():
        return CAMVID
    stat = path.stat()
    return _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _read_cached(path: str, mtime_ns: int, size: int) -> DatasetClasses:
    """One parse per file version: every label map read asks for its dataset's classes."""
    return DatasetClasses.from_file(path)


def classes_of_label(path: str | Path) -> DatasetClasses:
    """The classes of the dataset a label file sits in (``<root>/<split>annot/<name>``), else CamVid's."""
    folder = Path(path).parent
    return load_classes(folder.parent) if folder.name.endswith("annot") else CAMVID


CAMVID = DatasetClasses.from_file(Path(__file__).with_name("camvid_classes.yaml"))

# CamVid's values under their historical names (CamVid-only code and tests use them).
CLASS_NAMES: list[str] = list(CAMVID.names)
NUM_CLASSES: int = CAMVID.num_classes
VOID_ID: int = CAMVID.void_id
VOID_NAME: str = CAMVID.ignore_name
PALETTE: np.ndarray = CAMVID.palette
