import cv2
import numpy as np
import pytest
import torch

from segnet.data import CamVid, read_image, read_label, read_pair
from segnet.data.camvid import SEGNET_SPLIT_SIZES
from segnet.data.classes import PALETTE
from segnet.errors import SegnetError

from .conftest import build_camvid, write_label, write_rgb


def test_all_real_pairs_load(camvid_root):
    total = 0
    for split, expected in SEGNET_SPLIT_SIZES.items():
        dataset = CamVid(camvid_root, split)
        assert len(dataset) == expected
        for image_path, label_path in dataset.pairs:
            assert image_path.name == label_path.name
            image, label = read_pair(image_path, label_path)
            assert image.shape == (360, 480, 3) and image.dtype == np.uint8
            assert label.shape == (360, 480) and label.dtype == np.uint8
            assert label.max() <= 11
            total += 1
    assert total == 701
    assert len(CamVid(camvid_root, "trainval")) == 367 + 101


def test_item_without_transform(camvid_root):
    image, mask = CamVid(camvid_root, "val")[0]
    assert image.shape == (3, 360, 480) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert mask.shape == (360, 480) and mask.dtype == torch.int64


def test_item_matches_reader(tiny_camvid):
    dataset = CamVid(tiny_camvid, "train")
    image, mask = dataset[1]
    rgb = read_image(dataset.pairs[1][0])
    assert torch.allclose(image, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    assert torch.equal(mask, torch.from_numpy(read_label(dataset.pairs[1][1])).long())


def test_cache_gives_same_items_and_checks_early(tiny_camvid):
    plain, cached = CamVid(tiny_camvid, "val"), CamVid(tiny_camvid, "val", cache=True)
    for i in range(len(plain)):
        assert all(torch.equal(a, b) for a, b in zip(plain[i], cached[i]))
    (tiny_camvid / "val" / "val_000.png").write_bytes(b"broken")
    with pytest.raises(SegnetError, match="val_000.png"):
        CamVid(tiny_camvid, "val", cache=True)


def test_unknown_split(tiny_camvid):
    with pytest.raises(SegnetError, match="unknown split 'training'"):
        CamVid(tiny_camvid, "training")


# --- bad inputs: every case names the file -------------------------------------------------


def test_missing_root(tmp_path):
    with pytest.raises(SegnetError, match="nowhere"):
        CamVid(tmp_path / "nowhere", "train")


def test_missing_split_folder(tiny_camvid):
    (tiny_camvid / "valannot").rename(tiny_camvid / "valannot_old")
    with pytest.raises(SegnetError, match="valannot"):
        CamVid(tiny_camvid, "val")


def test_empty_split(tmp_path):
    root = build_camvid(tmp_path / "c", {"train": 0})
    (root / "train").mkdir(parents=True)
    (root / "trainannot").mkdir()
    with pytest.raises(SegnetError, match="empty split.*train"):
        CamVid(root, "train")


def test_image_without_label(tiny_camvid):
    (tiny_camvid / "trainannot" / "train_001.png").unlink()
    with pytest.raises(SegnetError, match="image without label.*train_001.png"):
        CamVid(tiny_camvid, "train")


def test_label_without_image(tiny_camvid):
    (tiny_camvid / "test" / "test_000.png").unlink()
    with pytest.raises(SegnetError, match="label without image.*testannot/test_000.png"):
        CamVid(tiny_camvid, "test")


def test_unreadable_file(tiny_camvid):
    bad = tiny_camvid / "train" / "train_000.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(SegnetError, match="cannot decode .*train_000.png"):
        CamVid(tiny_camvid, "train")[0]


def test_truncated_png(tiny_camvid):
    bad = tiny_camvid / "train" / "train_002.png"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SegnetError, match="train_002.png"):
        CamVid(tiny_camvid, "train")[2]


def test_size_mismatch(tiny_camvid):
    write_label(tiny_camvid / "trainannot" / "train_000.png", np.zeros((20, 48), np.uint8))
    with pytest.raises(SegnetError, match="size mismatch.*train_000.png"):
        CamVid(tiny_camvid, "train")[0]


def test_label_out_of_range(tiny_camvid):
    label = np.zeros((36, 48), np.uint8)
    label[3, 4] = 40
    write_label(tiny_camvid / "trainannot" / "train_000.png", label)
    with pytest.raises(SegnetError, match="label value 40 outside 0..11.*|.*train_000.png.*40"):
        CamVid(tiny_camvid, "train")[0]


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    gray = np.arange(36 * 48, dtype=np.uint8).reshape(36, 48)
    write_rgb(tmp_path / "g.png", gray)
    assert np.array_equal(read_image(tmp_path / "g.png"), np.stack([gray] * 3, axis=-1))
    rgba = np.zeros((36, 48, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255  # red in RGBA order
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    out = read_image(tmp_path / "a.png")
    assert out.shape == (36, 48, 3) and (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()


def test_gray_alpha_png_becomes_rgb(tmp_path):
    from PIL import Image

    gray_alpha = np.zeros((8, 8, 2), np.uint8)
    gray_alpha[..., 0], gray_alpha[..., 1] = 77, 255
    Image.fromarray(gray_alpha, mode="LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert out.shape == (8, 8, 3) and (out == 77).all()


def test_two_channel_image_rejected(tmp_path, monkeypatch):
    # No common format decodes to 2 channels through OpenCV: fake the decoder.
    path = write_rgb(tmp_path / "two.png", np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr("segnet.data.images.cv2.imread", lambda *a: np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(SegnetError, match="two.png.*2 channels"):
        read_image(path)


def test_16_bit_image_is_scaled_to_8_bit(tmp_path):
    # as image viewers show it: 65535 is white (tests/inference/test_odd_inputs.py drives predict with it)
    path = tmp_path / "deep.png"
    deep = np.zeros((8, 8, 3), np.uint16)
    deep[:4] = 65535
    cv2.imwrite(str(path), deep)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (8, 8, 3)
    assert (image[:4] == 255).all() and (image[4:] == 0).all()


def test_palette_label_converted(tmp_path):
    ids = np.random.default_rng(1).integers(0, 12, (36, 48)).astype(np.uint8)
    write_rgb(tmp_path / "colour.png", PALETTE[ids])
    assert np.array_equal(read_label(tmp_path / "colour.png"), ids)


def test_non_palette_rgb_label_rejected(tmp_path):
    colours = PALETTE[np.zeros((36, 48), np.uint8)].copy()
    colours[5, 7] = (1, 2, 3)
    write_rgb(tmp_path / "odd.png", colours)
    with pytest.raises(SegnetError, match=r"odd.png.*\(1, 2, 3\)"):
        read_label(tmp_path / "odd.png")


def test_four_channel_label_rejected(tmp_path):
    path = tmp_path / "rgba_label.png"
    cv2.imwrite(str(path), np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(SegnetError, match="rgba_label.png.*4 channels"):
        read_label(path)
