"""A dataset with its own classes: a 3-class folder made from real CamVid crops (labels remapped,
some saved as palette-mode PNGs, void as 255) goes through data check, a tiny train, evaluate,
predict and export, and every output names its 3 classes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import segnet
from segnet.cli import main
from segnet.data import CamVid, read_label
from segnet.data.classes import CAMVID, DatasetClasses, load_classes

NAMES = ["sky", "ground", "things"]
COLORS = [[70, 130, 180], [128, 64, 128], [220, 20, 60]]
# CamVid id -> own id: Sky -> sky, Road/Sidewalk -> ground, everything else -> things, Void -> 255
REMAP = np.array([0, 2, 2, 1, 1, 2, 2, 2, 2, 2, 2, 255] + [255] * 244, dtype=np.uint8)
SPLITS = {"train": 2, "val": 1, "test": 2}
SIZE = 64
TINY = {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}


def _classes_yaml(names=NAMES, colors=COLORS, ignore=255) -> str:
    return f"names: {json.dumps(names)}\ncolors: {json.dumps(colors)}\nignore_index: {ignore}\n"


@pytest.fixture(scope="module")
def own_root(camvid_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("own") / "streets3"
    palette = sum(COLORS, []) + [0, 0, 0] * (256 - len(COLORS))
    for split, count in SPLITS.items():
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i, path in enumerate(sorted((camvid_root / split).glob("*.png"))[:count]):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[120:120 + SIZE, 200:200 + SIZE]
            assert cv2.imwrite(str(root / split / f"{split}{i}.png"), image)
            label = REMAP[cv2.imread(str(camvid_root / f"{split}annot" / path.name), cv2.IMREAD_UNCHANGED)]
            label = label[120:120 + SIZE, 200:200 + SIZE]
            if i == 0:  # palette-mode: the stored indices are the ids
                p_image = Image.fromarray(label, mode="P")
                p_image.putpalette(palette)
                p_image.save(root / f"{split}annot" / f"{split}{i}.png")
            else:
                assert cv2.imwrite(str(root / f"{split}annot" / f"{split}{i}.png"), label)
    (root / "classes.yaml").write_text(_classes_yaml())
    return root


def test_classes_yaml_is_read_and_checked(own_root, tmp_path):
    classes = load_classes(own_root)
    assert list(classes.names) == NAMES and classes.ignore_index == 255 and classes.void_id == 3
    assert classes.palette.tolist() == COLORS + [[0, 0, 0]]
    assert load_classes(tmp_path) is CAMVID  # no classes.yaml: CamVid
    for text, message in [
        (_classes_yaml(colors=COLORS[:2]), "2 colors for 3 names"),
        (_classes_yaml(names=["a", "a", "b"]), "name 'a' appears twice"),
        (_classes_yaml(ignore=2), "ignore_index 2 must be an integer from 3"),
        (_classes_yaml(colors=[[0, 0, 0], [1, 2], [3, 4, 5]]), r"colour \[1, 2\] is not \[r, g, b\]"),
        (_classes_yaml() + "colours: []\n", "unknown key 'colours'"),
        ("names: [a, b\n", r"classes.yaml, line 2, column 1: invalid YAML"),
    ]:
        (tmp_path / "classes.yaml").write_text(text)
        with pytest.raises(segnet.SegnetError, match=message):
            load_classes(tmp_path)


def test_labels_map_ignore_255_to_the_void_id(own_root, tmp_path):
    classes = load_classes(own_root)
    for split in SPLITS:
        for path in sorted((own_root / f"{split}annot").iterdir()):
            label = read_label(path, classes)
            assert set(np.unique(label)) <= {0, 1, 2, 3}
    raw = np.array(Image.open(own_root / "trainannot" / "train0.png"))
    assert Image.open(own_root / "trainannot" / "train0.png").mode == "P" and (raw == 255).any()
    np.testing.assert_array_equal(read_label(own_root / "trainannot" / "train0.png", classes) == 3, raw == 255)
    ids = np.array([[0, 1], [2, 3]], np.uint8)  # a colour label map in the dataset's own colours, void black
    cv2.imwrite(str(tmp_path / "colour.png"), cv2.cvtColor(classes.palette[ids], cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_label(tmp_path / "colour.png", classes), ids)
    cv2.imwrite(str(tmp_path / "bad.png"), np.full((4, 4), 7, np.uint8))
    with pytest.raises(segnet.SegnetError,
                       match=r"bad.png: label value 7 is neither a class id 0..2 nor the ignore index 255"):
        read_label(tmp_path / "bad.png", classes)
    dataset = CamVid(own_root, "train")
    assert dataset.classes == classes and dataset.num_classes == 3 and dataset.ignore_index == 3


def test_data_check_shows_the_own_classes(own_root, capsys):
    assert main(["data", "check", "--data-root", str(own_root)]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"  {name} " in out
    assert "Sky" not in out and "SegNet's CamVid has" not in out


@pytest.fixture(scope="module")
def trained(own_root, tmp_path_factory) -> segnet.TrainingRun:
    run_dir = tmp_path_factory.mktemp("run") / "run"
    overrides = ["model.name=fc_densenet", f"data.root={own_root}", "data.num_workers=0", "train.epochs=1",
                 "train.crop_size=32", "train.batch_size=1", "finetune.enabled=false", "progress=false",
                 "threads=1", f"run_dir={run_dir}"] + [f"model.options.{k}={json.dumps(v)}" for k, v in TINY.items()]
    return segnet.train(segnet.load_config(None, overrides))


def test_train_records_the_own_classes(trained, own_root):
    model = trained.load_model(device="cpu", amp="off")
    assert model.classes == load_classes(own_root)
    assert list(model.classes.names) == NAMES and model.classes.ignore_index == 255
    labels = model.predict(np.zeros((SIZE, SIZE, 3), np.uint8))
    assert labels.max() < 3
    header = (trained.run_dir / "metrics.csv").read_text().splitlines()[0]
    assert all(f"iou_{name}" in header for name in NAMES) and "iou_Sky" not in header


def test_evaluate_and_predict_use_the_own_classes(trained, own_root, tmp_path, capsys):
    result = segnet.evaluate(trained.load_model(device="cpu", amp="off"), own_root, split="test")
    assert result.class_names == NAMES and result.confusion.shape == (3, 3)
    truth = np.concatenate([read_label(p, load_classes(own_root)).ravel() for p in (own_root / "testannot").iterdir()])
    assert result.confusion.sum() == (truth != 3).sum()  # 255 pixels are ignored, the others all scored
    assert main(["evaluate", "--checkpoint", str(trained.best_checkpoint), "--data-root", str(own_root),
                 "--out", str(tmp_path / "eval"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES) and "Sky" not in out and "CamVid" not in out
    assert main(["predict", "--checkpoint", str(trained.best_checkpoint), str(own_root / "test" / "test0.png"),
                 "--out", str(tmp_path / "pred"), "--device", "cpu"]) == 0
    labels = cv2.imread(str(tmp_path / "pred" / "test0_labels.png"), cv2.IMREAD_UNCHANGED)
    colours = cv2.cvtColor(cv2.imread(str(tmp_path / "pred" / "test0_color.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(colours, np.array(COLORS, np.uint8)[labels])


def test_export_metadata_names_the_own_classes(trained, tmp_path):
    onnx = pytest.importorskip("onnx")
    path = segnet.export(trained.load_model(device="cpu"), tmp_path / "own.onnx")
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(props["class_names"]) == NAMES and json.loads(props["num_classes"]) == 3


def test_a_checkpoint_with_other_classes_is_refused_on_camvid(trained, camvid_root):
    with pytest.raises(segnet.SegnetError,
                       match=r"model has 3 classes \(sky, ground, things\), the data at .* has 11 \(Sky, "):
        segnet.evaluate(trained.load_model(device="cpu"), camvid_root, split="val")


def test_model_classes_round_trip_through_a_checkpoint():
    classes = DatasetClasses(tuple(NAMES), tuple(map(tuple, COLORS)), 255)
    assert DatasetClasses.from_checkpoint(classes.to_checkpoint()) == classes
