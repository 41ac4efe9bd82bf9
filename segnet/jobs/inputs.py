"""What ``segnet predict`` reads: files, folders, globs, cameras and stream URLs, and where the
outputs of each go.

Every input gets an output name relative to ``--out``: a file's path relative to the folder
that holds all the file inputs (so ``x/a.png`` and ``y/a.png`` write ``x/a_*`` and ``y/a_*``;
inputs from one folder write flat, as before), a camera ``camera<N>``, a stream the last part
of its URL. Only two inputs that would really write the same file are refused.

Folders segnet wrote into list their outputs in a hidden manifest (MANIFEST); folders and
globs skip those files, so ``segnet predict DIR --out DIR`` run twice segments only the inputs.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from segnet.data.images import IMAGE_SUFFIXES, readable_image
from segnet.errors import SegnetError
from segnet.jobs.video import VIDEO_SUFFIXES, WRITER_CODECS, camera_index, check_video, describe_source, is_stream

MANIFEST = ".segnet-outputs"
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Input:
    """``source``: a file Path, a camera (index or /dev/videoN) or a URL; ``kind``: image, video
    or stream (cameras included); ``name``: outputs are ``--out/<name>_labels.png`` etc."""

    source: Path | int | str
    kind: str
    name: str = ""

    @property
    def path(self) -> Path:
        return Path(str(self.source))

    @property
    def label(self) -> str:
        return describe_source(self.source) if self.kind == "stream" else str(self.source)

    def outputs(self, save_frames: bool = False) -> list[str]:
        """The names this input writes under --out (videos: without the container suffix)."""
        if self.kind == "image":
            return [f"{self.name}_{k}.png" for k in ("labels", "color", "overlay")]
        return [f"{self.name}_overlay"] + ([f"{self.name}_frames"] if save_frames else [])


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _supported() -> str:
    return ", ".join(s.lstrip(".") for s in IMAGE_SUFFIXES + VIDEO_SUFFIXES) + ", a camera index or a stream URL"


def written_by_segnet(folder: Path) -> set[str]:
    """Names of the files segnet wrote into ``folder`` (from its manifest)."""
    try:
        return set((folder / MANIFEST).read_text(encoding="utf-8").split("\n")) - {""}
    except (OSError, UnicodeDecodeError):
        return set()


def _not_ours(paths: Iterable[Path]) -> list[Path]:
    manifests: dict[Path, set[str]] = {}
    keep = []
    for p in paths:
        ours = manifests.setdefault(p.parent, written_by_segnet(p.parent))
        if p.name not in ours:
            keep.append(p)
    return keep


def _stream_name(spec: str) -> str:
    parts = urlsplit(spec)
    stem = PurePosixPath(parts.path).stem or parts.hostname or "stream"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "stream"


def _find(spec: str) -> list[Input]:
    """One command-line input -> its inputs (without output names)."""
    camera = camera_index(spec)
    if is_stream(spec) or (camera is not None and (spec.startswith("/dev/") or not Path(spec).exists())):
        return [Input(spec if camera is None else camera, "stream")]
    path = Path(spec)
    if not path.exists() and _GLOB_CHARS & set(spec):
        matches = _not_ours(Path(m) for m in sorted(glob.glob(spec)) if Path(m).is_file())
        items = [Input(m, _kind(m)) for m in matches if _kind(m)]
        if not items:
            raise SegnetError(f"no image or video matches {spec!r} (supported: {_supported()})")
        return items
    if path.is_dir():
        files = _not_ours(_walk(path))
        if not files:
            raise SegnetError(f"folder {path} holds no image or video ({_supported()}), in it or its subfolders, "
                              "other than segnet's outputs")
        return [Input(p, _kind(p)) for p in files]
    if path.is_file():
        if _kind(path) is None:
            raise SegnetError(f"unsupported file type '{path.suffix or path.name}' for {path} "
                              f"(supported: {_supported()})")
        return [Input(path, _kind(path))]
    raise SegnetError(f"input not found: {spec}")


def _walk(folder: Path) -> list[Path]:
    """Image and video files in ``folder`` and its subfolders, sorted; hidden files and folders
    skipped, and the folders segnet wrote (a video's ``<name>_frames/``: its parent's manifest names it)."""
    found = []
    for parent, folders, names in os.walk(folder):
        ours = written_by_segnet(Path(parent))
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in ours)
        found += [Path(parent) / n for n in sorted(names) if not n.startswith(".") and _kind(Path(n))]
    return found


def _named(items: list[Input]) -> list[Input]:
    """Output names: files relative to their common folder, streams by camera number or URL."""
    files = [i for i in items if i.kind != "stream"]
    base = Path(os.path.commonpath([str(i.path.parent.resolve()) for i in files])) if files else Path(".")
    named = []
    for item in items:
        if item.kind == "stream":
            name = (f"camera{item.source}" if isinstance(item.source, int)
                    else Path(item.source).name.replace("video", "camera") if camera_index(str(item.source))
                    else _stream_name(item.source))
        else:
            name = (item.path.parent.resolve().relative_to(base) / item.path.stem).as_posix()
        named.append(Input(item.source, item.kind, name))
    return named


def collect_inputs(specs: Iterable[str], save_frames: bool = False) -> list[Input]:
    """Files, folders (with their subfolders, sorted; outputs mirror the subfolders under --out),
    globs, cameras and URLs -> checked inputs with output names; SegnetError on the first
    problem, before anything is written."""
    found: list[Input] = []
    for spec in specs:
        found += _find(str(spec))
    if not found:
        raise SegnetError("no input given")
    unique = _named(list(dict.fromkeys(found)))
    writers: dict[str, Input] = {}
    for item in unique:
        for name in item.outputs(save_frames):
            other = writers.setdefault(name, item)
            if other is not item:
                raise SegnetError(f"{other.label} and {item.label} would both write {name}*: "
                                  "rename one or run them separately")
    for item in unique:
        if item.kind != "image":
            check_video(item.source)
        elif not item.path.stat().st_size or not readable_image(item.path):
            raise SegnetError(f"cannot decode {item.path}: not a readable image file")
    return unique


def check_inputs_kept(inputs: list[Input], out: str | Path, save_frames: bool = False) -> None:
    """SegnetError when an output would overwrite one of the inputs (``--out`` is their folder,
    and an input is named like another's output, e.g. ``a.png`` beside ``a_color.png``)."""
    sources = {i.path.resolve(): i for i in inputs if i.kind != "stream"}
    for item in inputs:
        for name in item.outputs(save_frames):
            names = [name] if name.endswith(".png") else [name + suffix for _, suffix in WRITER_CODECS]
            for target in (Path(out) / n for n in names):
                if target.resolve() in sources:
                    raise SegnetError(f"the output {target} of {item.label} would overwrite that input: "
                                      "write the outputs elsewhere or rename the input")
