"""Files read as they were written: palette-mode label PNGs keep their indices, images follow EXIF."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from segnet.checkpoints.checkpoint import model_fields, save_checkpoint
from segnet.cli import main
from segnet.data import CamVid, make_loader, read_image, read_label, read_pair, train_transform
from segnet.data.check import check_camvid
from segnet.data.class_weights import median_frequency_weights
from segnet.data.classes import PALETTE
from segnet.errors import SegnetError
from segnet.jobs.evaluate import evaluate
from segnet.models import create_model

from .conftest import build_camvid

# PASCAL VOC's colour map (bit-interleaved): the palette VOC/Cityscapes-tools label PNGs carry.
# Index 0 is black, which the CamVid palette calls void: read as colours, id 0 became 11.
VOC_PALETTE = [
    (sum(((i >> (3 * k + c)) & 1) << (7 - k) for k in range(8))) for i in range(256) for c in range(3)
]
ORIENTATION = 0x0112


def save_palette_png(path: Path, ids: np.ndarray, **options) -> Path:
    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette(VOC_PALETTE)
    image.save(path, **options)
    assert Image.open(path).mode == "P"
    return path


@pytest.mark.parametrize("options", [{}, {"bits": 4}])
def test_palette_png_label_is_its_indices(tmp_path, options):
    ids = np.zeros((30, 40), np.uint8)
    ids[:, 20:] = 1
    path = save_palette_png(tmp_path / "voc.png", ids, **options)
    assert np.array_equal(read_label(path), ids)  # {0, 1}, not {11 void, 1}


def test_palette_index_outside_the_classes_is_flagged(tmp_path):
    root = build_camvid(tmp_path / "CamVid", sizes={"train": 2, "val": 1, "test": 1})
    ids = np.zeros((36, 48), np.uint8)
    ids[3, 4] = 255  # VOC's "boundary" index: no CamVid class
    save_palette_png(root / "trainannot" / "train_001.png", ids)
    report = check_camvid(root)
    assert not report.ok and len(report.errors) == 1
    assert "train_001.png" in report.errors[0] and "label value 255" in report.errors[0]


def test_data_check_warns_when_palette_colours_say_other_classes(tmp_path):
    root = build_camvid(tmp_path / "CamVid", sizes={"train": 3, "val": 1, "test": 1})
    ids = read_label(root / "trainannot" / "train_000.png")
    for name, palette in [
        ("train_000.png", PALETTE[::-1]),  # CamVid colours in another order (a colour label, adaptive palette)
        ("train_001.png", PALETTE),  # CamVid's own palette: indices and colours agree
    ]:
        image = Image.fromarray(ids, mode="P")
        image.putpalette(palette.astype(np.uint8).ravel().tolist())
        image.save(root / "trainannot" / name)
    # VOC palette with index 2, (0, 128, 0): not a CamVid colour, so the palette is only for display
    save_palette_png(root / "valannot" / "val_000.png", np.arange(36 * 48).reshape(36, 48) % 3)
    report = check_camvid(root)
    assert report.ok
    conflicts = [w for w in report.warnings if "palette" in w]
    assert len(conflicts) == 1 and "more label maps" not in conflicts[0]
    assert "train_000.png: palette-mode label read as its indices" in conflicts[0]
    assert "index 0 is coloured (0, 0, 0), CamVid's Void" in conflicts[0]
    assert np.array_equal(read_label(root / "trainannot" / "train_000.png"), ids)  # still read as written


def test_damaged_palette_png_is_an_error(tmp_path):
    path = save_palette_png(tmp_path / "cut.png", np.ones((64, 64), np.uint8) * 3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SegnetError, match="cut.png"):
        read_label(path)


@pytest.fixture(scope="module")
def twin_roots(camvid_root, tmp_path_factory):
    """Real frames twice: labels as CamVid ships them (grayscale ids) and as palette-mode PNGs."""
    plain, palette = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("palette")
    for split, count in (("train", 4), ("test", 2)):
        names = sorted(p.name for p in (camvid_root / split).glob("*.png"))[::50][:count]
        for root in (plain, palette):
            (root / split).mkdir()
            (root / f"{split}annot").mkdir()
        for name in names:
            label = camvid_root / f"{split}annot" / name
            for root in (plain, palette):
                (root / split / name).symlink_to(camvid_root / split / name)
            shutil.copyfile(label, plain / f"{split}annot" / name)
            save_palette_png(palette / f"{split}annot" / name, np.asarray(Image.open(label)))
    return plain, palette


def test_real_labels_as_palette_pngs_give_identical_data(twin_roots):
    plain, palette = twin_roots
    labels = {root: sorted((root / "trainannot").glob("*.png")) for root in twin_roots}
    for a, b in zip(labels[plain], labels[palette]):
        assert np.array_equal(read_label(a), read_label(b))
    assert torch.equal(median_frequency_weights(labels[plain]), median_frequency_weights(labels[palette]))

    def batches(root):
        loader = make_loader(CamVid(root, "train", train_transform(crop_size=96)), batch_size=2, shuffle=True,
                             num_workers=0, seed=7)
        return list(loader)

    for (xa, ya), (xb, yb) in zip(batches(plain), batches(palette), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_real_labels_as_palette_pngs_give_identical_evaluation(twin_roots):
    torch.manual_seed(0)
    tiny = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
    ckpt = model_fields(create_model("fc_densenet", 11, **tiny), "fc_densenet", tiny)
    results = [evaluate(ckpt, "tiny", root, "test", device="cpu", amp="off", progress=False) for root in twin_roots]
    for key in ("miou", "per_class_iou", "pixel_accuracy", "confusion_matrix"):
        assert results[0][key] == results[1][key], key


def _orientation_test_image() -> np.ndarray:
    """Coarse, asymmetric blocks: survive JPEG compression and show any turn or flip."""
    rgb = np.zeros((48, 80, 3), np.uint8)
    rgb[:16, :24] = (250, 20, 20)
    rgb[32:, 56:] = (20, 20, 250)
    rgb[16:32, 24:56] = (20, 250, 20)
    return rgb


def _save_with_orientation(path: Path, rgb: np.ndarray, orientation: int) -> Path:
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    image.save(path, exif=exif.tobytes(), **({"quality": 95} if path.suffix == ".jpg" else {}))
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_as_viewers_do(tmp_path, orientation):
    path = _save_with_orientation(tmp_path / "o.png", _orientation_test_image(), orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))  # Pillow as reference
    assert np.array_equal(read_image(path), expected)


def test_phone_jpeg_orientation_6(tmp_path):
    rgb = _orientation_test_image()
    path = _save_with_orientation(tmp_path / "phone.jpg", rgb, 6)  # "rotate 90 clockwise to view"
    out = read_image(path).astype(int)
    assert out.shape == (80, 48, 3)
    assert np.abs(out - np.rot90(rgb, k=-1)).mean() < 3  # red block now top right, blue bottom left


def test_labels_ignore_exif_and_a_turned_pair_names_the_cause(tmp_path):
    image = _save_with_orientation(tmp_path / "img.png", _orientation_test_image(), 6)
    label_rgb = Image.fromarray(np.ones((48, 80), np.uint8))
    exif = label_rgb.getexif()
    exif[ORIENTATION] = 6
    label_rgb.save(tmp_path / "label.png", exif=exif.tobytes())
    assert read_label(tmp_path / "label.png").shape == (48, 80)
    with pytest.raises(SegnetError, match="transposed: images are turned by their EXIF orientation"):
        read_pair(image, tmp_path / "label.png")


def test_predict_segments_a_phone_photo_upright(tmp_path):
    torch.manual_seed(0)
    tiny = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
    save_checkpoint(tmp_path / "tiny.pt", model_fields(create_model("fc_densenet", 11, **tiny), "fc_densenet", tiny))
    photo = _save_with_orientation(tmp_path / "phone.jpg", _orientation_test_image(), 6)
    assert main(["predict", str(photo), "--checkpoint", str(tmp_path / "tiny.pt"), "--device", "cpu",
                 "--out", str(tmp_path / "out")]) == 0
    assert read_label(tmp_path / "out" / "phone_labels.png").shape == (80, 48)
