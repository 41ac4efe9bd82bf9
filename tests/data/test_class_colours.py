"""A dataset's own colours: refused when two classes (or a class and the ignore label) share one,
drawn in overlays as the checkpoint records them, and said in the legend where a colour would
not show over a photo. CamVid's overlays keep their bright colours."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import segnet
from segnet.cli import main
from segnet.data.classes import CAMVID, DatasetClasses
from segnet.errors import SegnetError
from segnet.jobs.visualize import OVERLAY_COLORS, Painter, overlay_scheme

TINY = {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}
NAMES = ["background", "road", "car", "person", "tree"]
# black background; person a shade away from car (too close to tell apart over a photo)
COLORS = [[0, 0, 0], [128, 64, 128], [0, 0, 255], [10, 10, 245], [0, 200, 0]]


def _dataset(tmp_path: Path, colors, **more) -> Path:
    root = tmp_path / "mydata"
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        cv2.imwrite(str(root / split / "a.png"), np.zeros((32, 32, 3), np.uint8))
        cv2.imwrite(str(root / f"{split}annot" / "a.png"), np.zeros((32, 32), np.uint8))
    spec = {"names": NAMES, "colors": colors, "ignore_index": 255, **more}
    (root / "classes.yaml").write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in spec.items()) + "\n")
    return root


def _error(argv, capsys, code: int = 2) -> str:
    assert main(argv) == code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("segnet: error: "), lines
    return lines[0]


def test_two_classes_of_one_colour_are_refused_naming_both(tmp_path, capsys):
    root = _dataset(tmp_path, [COLORS[0], COLORS[1], COLORS[2], COLORS[2], COLORS[4]])
    line = _error(["data", "check", "--data-root", str(root)], capsys, code=1)  # data check: 1 = problems found
    assert "classes.yaml" in line and "'car' and 'person' have the same colour [0, 0, 255]" in line


def test_a_class_in_the_ignore_colour_is_refused(tmp_path, capsys):
    root = _dataset(tmp_path, COLORS, ignore_color=[0, 200, 0])
    line = _error(["evaluate", "--data-root", str(root), "--out", str(tmp_path / "eval")], capsys)
    assert "'tree' has the ignore colour [0, 200, 0]" in line and "ignore_color" in line


def test_a_black_class_moves_the_default_ignore_colour():
    classes = DatasetClasses(tuple(NAMES), tuple(map(tuple, COLORS)), 255)
    assert classes.ignore_color == (255, 255, 255)  # black is background's: void gets the next spare colour
    assert DatasetClasses(("a",), ((9, 9, 9),), 1).ignore_color == (0, 0, 0)
    # checkpoints written before colours had to differ recorded black for both: they still load
    old = {**classes.to_checkpoint(), "palette": [*COLORS, [0, 0, 0]]}
    assert DatasetClasses.from_checkpoint(old).ignore_color == (255, 255, 255)


def test_jpeg_label_message_says_why_the_values_changed(tmp_path):
    root = _dataset(tmp_path, COLORS)
    label = root / "trainannot" / "b.jpg"
    cv2.imwrite(str(label), np.full((32, 32), 7, np.uint8))
    with pytest.raises(SegnetError, match=r"b\.jpg: label value 7 .*JPEG compression changes label values"):
        segnet.data.read_label(label)


@pytest.fixture(scope="module")
def five_ckpt(tmp_path_factory) -> Path:
    from segnet.checkpoints.checkpoint import model_fields, save_checkpoint
    from segnet.models import create_model

    torch.manual_seed(0)
    classes = DatasetClasses(tuple(NAMES), tuple(map(tuple, COLORS)), 255)
    fields = model_fields(create_model("fc_densenet", 5, **TINY), "fc_densenet", TINY)
    path = tmp_path_factory.mktemp("five") / "five.pt"
    save_checkpoint(path, {**fields, **classes.to_checkpoint()})
    return path


def test_overlays_use_the_checkpoints_colours(five_ckpt):
    model = segnet.load_model(five_ckpt, device="cpu", backend="torch")
    image = np.full((40, 50, 3), 100, np.uint8)
    labels = np.arange(5, dtype=np.uint8).repeat(10)[None].repeat(40, 0)
    drawn = model.overlay(image, labels, opacity=1.0)
    assert np.array_equal(drawn[labels == 0], image[labels == 0])  # black background: the photo, untinted
    assert (drawn[labels == 1] == (128, 64, 128)).all() and (drawn[labels == 2] == (0, 0, 255)).all()
    person = drawn[labels == 3][0]
    assert np.linalg.norm(person.astype(int) - (0, 0, 255)) > 60  # not a second blue
    assert np.array_equal(model.colorize(labels)[labels == 3][0], (10, 10, 245))  # colour PNGs keep the dataset's
    _, names, untinted = overlay_scheme(model.classes)
    assert names == ["background: untinted", "road", "car", "person (recoloured)", "tree"] and untinted == {0}


def test_predict_legend_writes_the_own_colours(five_ckpt, tmp_path, capsys):
    photo = tmp_path / "street.png"
    cv2.imwrite(str(photo), np.full((240, 320, 3), 90, np.uint8))
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(five_ckpt), str(photo), "--out", str(out), "--legend",
                 "--device", "cpu", "--backend", "torch"]) == 0
    labels = cv2.imread(str(out / "street_labels.png"), cv2.IMREAD_UNCHANGED)
    overlay = cv2.cvtColor(cv2.imread(str(out / "street_overlay.png")), cv2.COLOR_BGR2RGB)
    painter = Painter(DatasetClasses(tuple(NAMES), tuple(map(tuple, COLORS)), 255))
    expected = painter.overlay(np.full((240, 320, 3), 90, np.uint8), labels, legend=True)
    assert np.array_equal(overlay, expected)
    assert not np.array_equal(expected, painter.overlay(np.full((240, 320, 3), 90, np.uint8), labels))  # a legend


def test_camvid_overlays_keep_their_bright_colours():
    palette, names, untinted = overlay_scheme(CAMVID)
    assert [tuple(c) for c in palette[:11]] == [OVERLAY_COLORS[n.lower()] for n in CAMVID.names]
    assert np.array_equal(palette[11], CAMVID.palette[11]) and names == list(CAMVID.names) and not untinted


def test_overlay_refuses_ids_outside_the_classes(five_ckpt):
    model = segnet.load_model(five_ckpt, device="cpu", backend="torch")
    labels = np.full((8, 8), 7, np.uint8)
    with pytest.raises(SegnetError, match=r"class id 7 is not one of the model's 5 classes \(ids 0..4, 5 for void\)"):
        model.overlay(np.zeros((8, 8, 3), np.uint8), labels)
    with pytest.raises(SegnetError, match="class id 7"):
        model.colorize(labels)
