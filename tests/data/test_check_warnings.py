"""``segnet data check`` warnings: frames smaller than the recipe's crop, a dataset without a test
split; and the header-only frame sizes that training's crop check reads."""

import shutil

import numpy as np
from PIL import Image

from segnet.cli import main
from segnet.data.check import check_camvid, crop_problem, header_size, smallest_frame

from .conftest import build_camvid


def test_crop_larger_than_scaled_frames_is_a_warning(tmp_path, capsys):
    root = build_camvid(tmp_path / "DS", height=60, width=80)
    assert main(["data", "check", "--data-root", str(root), "--crop-size", "40", "--scale", "0.5"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "train.crop_size" in line)
    assert "= 40" in line and "30x40" in line and "data.scale=0.5" in line and str(root) in line
    assert "OK: every pair is readable" in out


def test_crop_that_fits_gives_no_warning(tmp_path, capsys):
    root = build_camvid(tmp_path / "DS", height=60, width=80)
    assert main(["data", "check", "--data-root", str(root), "--crop-size", "30", "--scale", "0.5"]) == 0
    assert "crop_size" not in capsys.readouterr().out


def test_bad_scale_is_one_line(tmp_path, capsys):
    root = build_camvid(tmp_path / "DS")
    assert main(["data", "check", "--data-root", str(root), "--crop-size", "8", "--scale", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segnet: error: --scale 2.0")


def test_missing_test_split_warns_not_fails(tmp_path, capsys):
    root = build_camvid(tmp_path / "DS")
    for folder in ("test", "testannot"):
        shutil.rmtree(root / folder)
    assert main(["data", "check", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "no test split in" in out and "OK: every pair is readable" in out


def test_half_a_test_split_is_still_an_error(tmp_path):
    root = build_camvid(tmp_path / "DS")
    shutil.rmtree(root / "testannot")
    report = check_camvid(root)
    assert not report.ok and any("testannot" in e for e in report.errors)


def test_header_size_applies_exif_rotation(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 40x30 (w x h), shown 30 wide and 40 high
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(path, exif=exif)
    assert header_size(path) == (40, 30)


def test_smallest_frame_skips_unreadable_headers(tmp_path):
    big, small, broken = tmp_path / "big.png", tmp_path / "small.png", tmp_path / "broken.png"
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(big)
    Image.fromarray(np.zeros((20, 90, 3), np.uint8)).save(small)
    broken.write_bytes(b"not an image")
    assert smallest_frame([big, small, broken]) == (small, (20, 90))
    assert crop_problem("train.crop_size", 20, smallest_frame([big, small]), 1.0, tmp_path) is None
    assert "10x45" in crop_problem("finetune.crop_size", 12, smallest_frame([big, small]), 0.5, tmp_path)
