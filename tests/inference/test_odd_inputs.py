"""Inputs people have: 16-bit and grey PNGs, WebP, TIFF and GIF files, folders of subfolders, and
arrays and tensors of other types than HxWx3 uint8. What is unambiguous is converted as an image
viewer shows it; the rest is refused with the rule. Driven through `segnet predict` and Model.predict."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.cli import main
from segnet.errors import SegnetError

RGB = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _write_odd_files(folder: Path) -> dict[str, np.ndarray]:
    """Each odd file under ``folder`` (in subfolders) -> the RGB frame a viewer shows for it."""
    grey = RGB[..., 1]
    wide = RGB.astype(np.uint16) * 257  # 16-bit holding exactly the 8-bit picture
    (folder / "deep").mkdir(parents=True)
    (folder / "web" / "anim").mkdir(parents=True)
    cv2.imwrite(str(folder / "deep" / "rgb16.png"), cv2.cvtColor(wide, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "deep" / "grey16.png"), wide[..., 1])
    cv2.imwrite(str(folder / "deep" / "scan.tif"), cv2.cvtColor(wide, cv2.COLOR_RGB2BGR))
    Image.fromarray(RGB).save(folder / "web" / "photo.webp", lossless=True)
    frames = [Image.fromarray(np.repeat(grey[..., None], 3, 2)), Image.fromarray(255 - RGB)]
    frames[0].save(folder / "web" / "anim" / "clip.gif", save_all=True, append_images=frames[1:])
    return {"deep/rgb16": RGB, "deep/grey16": np.repeat(grey[..., None], 3, 2), "deep/scan": RGB,
            "web/photo": RGB, "web/anim/clip": np.repeat(grey[..., None], 3, 2)}


def test_odd_files_in_subfolders_are_segmented_like_their_8_bit_picture(tiny_model_ckpt, tmp_path, capsys):
    shown = _write_odd_files(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(tiny_model_ckpt), str(tmp_path / "in"), "--out", str(out),
                 "--device", "cpu"]) == 0
    assert "5 image(s)" in capsys.readouterr().out
    model = segnet.load_model(tiny_model_ckpt, device="cpu")
    for name, rgb in shown.items():
        assert np.array_equal(segnet.data.read_image(next((tmp_path / "in").glob(f"{name}.*"))), rgb), name
        labels = cv2.imread(str(out / f"{name}_labels.png"), cv2.IMREAD_UNCHANGED)  # subfolders mirrored
        assert np.array_equal(labels, model.predict(rgb)), name


def test_a_folder_of_subfolders_without_images_still_says_so(tiny_model_ckpt, tmp_path, capsys):
    (tmp_path / "in" / "a" / "b").mkdir(parents=True)
    (tmp_path / "in" / "a" / "notes.txt").write_text("x")
    assert main(["predict", "--checkpoint", str(tiny_model_ckpt), str(tmp_path / "in"), "--out",
                 str(tmp_path / "out")]) == 2
    assert "holds no image or video" in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def model(tiny_model_ckpt):
    return segnet.load_model(tiny_model_ckpt, device="cpu")


@pytest.mark.parametrize("convert", [
    lambda x: x.astype(np.float32) / 255,                                  # float 0..1
    lambda x: x.astype(np.uint16) * 257,                                   # 16-bit
    lambda x: np.concatenate([x, np.full_like(x[..., :1], 7)], axis=2),    # RGBA: alpha dropped
    lambda x: torch.from_numpy(x).permute(2, 0, 1).float() / 255,          # torch CxHxW float
    lambda x: torch.from_numpy(x.copy()),                                  # torch HxWx3 uint8
], ids=["float01", "uint16", "rgba", "tensor_chw", "tensor_hwc"])
def test_arrays_that_are_unambiguous_are_converted(model, convert):
    assert np.array_equal(model.predict(convert(RGB)), model.predict(RGB))


def test_grey_arrays_and_batches_are_converted(model):
    grey = RGB[..., 0]
    expected = model.predict(np.repeat(grey[..., None], 3, 2))
    assert np.array_equal(model.predict(grey), expected) and np.array_equal(model.predict(grey[..., None]), expected)
    batch = torch.from_numpy(np.stack([RGB, RGB])).permute(0, 3, 1, 2).float() / 255  # NxCxHxW
    assert np.array_equal(model.predict(batch), np.stack([model.predict(RGB)] * 2))


@pytest.mark.parametrize("bad, message", [
    (RGB.astype(np.float32), r"float values must lie in 0..1 \(got 0..255\)"),
    (RGB.astype(np.int64), "dtype int64 has no one meaning"),
    (np.zeros((48, 64, 5), np.uint8), r"expected shape HxWx3 \(RGB\), got \(48, 64, 5\); also taken: uint16"),
    (np.zeros((48, 64, 2), np.uint8), r"got \(48, 64, 2\)"),
    ([[1, 2], [3, 4]], "image path, got list"),
], ids=["float255", "int64", "5ch", "2ch", "nested_list"])
def test_ambiguous_arrays_are_refused_with_the_rule(model, bad, message):
    with pytest.raises(SegnetError, match=message):
        model.predict([bad] if isinstance(bad, list) else bad)
