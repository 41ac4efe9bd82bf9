"""The Python API (``import segnet``) as the README documents it, on tiny models and real frames."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import model_fields, save_checkpoint
from segnet.data.classes import CAMVID
from segnet.data.images import read_image, read_label
from segnet.models import create_model

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
SIZE = 64


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("fc_densenet", CAMVID.num_classes, **TINY)
    with torch.no_grad():  # spread the predictions over several classes
        model.classifier.bias.copy_(torch.linspace(-1, 1, CAMVID.num_classes))
    path = tmp_path_factory.mktemp("ckpt") / "runs" / "tiny-20260101-000000" / "best.pt"
    save_checkpoint(path, model_fields(model, "fc_densenet", TINY))
    return path


@pytest.fixture(scope="module")
def crops(camvid_root, tmp_path_factory) -> Path:
    """64x64 crops of 2 real test frames and labels (SegNet layout: test/ + testannot/)."""
    root = tmp_path_factory.mktemp("crops")
    for split in ("test", "testannot"):
        (root / split).mkdir()
    for path in sorted((camvid_root / "test").glob("*.png"))[:2]:
        for split in ("test", "testannot"):
            array = cv2.imread(str(camvid_root / split / path.name), cv2.IMREAD_UNCHANGED)
            assert cv2.imwrite(str(root / split / path.name), array[100:100 + SIZE, 200:200 + SIZE])
    return root


@pytest.fixture(scope="module")
def model(tiny_ckpt):
    return segnet.load_model(tiny_ckpt, device="cpu", amp="off")


def _frames(root: Path) -> list[Path]:
    return sorted((root / "test").glob("*.png"))


def test_running_a_model_loads_no_training_library():
    """albumentations (training transforms) and smp (the first smp model) each take seconds to
    import: predicting with an FC-DenseNet needs neither."""
    code = ("import segnet, sys, numpy as np; m = segnet.load_model(backend='torch', device='cpu'); "
            "m.predict(np.zeros((90, 120, 3), np.uint8)); "
            "print([n for n in ('albumentations', 'segmentation_models_pytorch') if n in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1:] == ["[]"], out.stdout + out.stderr


def test_import_is_light_and_lists_the_api():
    code = ("import segnet, sys; segnet.load_config, segnet.SegnetError; "
            "print('torch' in sys.modules, segnet.__version__, 'load_model' in dir(segnet))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", segnet.__version__, "True"]  # configs and errors without torch (the CLI's start-up)
    public = [n for n in dir(segnet) if n != "__version__"]
    service = ["create_app", "serve"]  # segnet.service, a layer above segnet.api
    assert sorted(importlib.import_module("segnet.api").__all__ + ["SegnetError"] + service) == public
    assert all(getattr(segnet, name).__doc__ for name in public)  # every public name documented
    with pytest.raises(AttributeError):
        segnet.no_such_name


def test_load_model_from_file_run_folder_and_run_name(tiny_ckpt, model, monkeypatch):
    assert model.classes == CAMVID and model.name == "fc_densenet" and model.precision == "float32"
    assert segnet.load_model(tiny_ckpt.parent).source == str(tiny_ckpt)
    monkeypatch.chdir(tiny_ckpt.parents[2])  # the folder holding runs/
    assert segnet.load_model("tiny").source == str(Path("runs") / "tiny-20260101-000000" / "best.pt")
    with pytest.raises(segnet.SegnetError, match="no checkpoint, run folder or run name 'nope'"):
        segnet.load_model("nope")
    (tiny_ckpt.parents[1] / "empty").mkdir(exist_ok=True)
    with pytest.raises(segnet.SegnetError, match="holds no best.pt or last.pt"):
        segnet.load_model(tiny_ckpt.parents[1] / "empty")


def test_bundled_model_is_the_default():
    bundled = segnet.load_model(device="cpu", amp="off")
    assert bundled.classes.names == CAMVID.names and bundled.card.meta.get("test_miou")
    labels = bundled.predict(np.zeros((40, 56, 3), np.uint8))
    assert labels.shape == (40, 56) and labels.dtype == np.uint8 and labels.max() < CAMVID.num_classes


def test_predict_single_path_batch_and_list_agree(model, crops):
    paths = _frames(crops)
    images = [read_image(p) for p in paths]
    single = model.predict(images[0])
    assert single.shape == (SIZE, SIZE) and single.dtype == np.uint8
    assert len(np.unique(single)) > 1  # not a constant map: the comparisons below mean something
    np.testing.assert_array_equal(model.predict(paths[0]), single)
    np.testing.assert_array_equal(model.predict(str(paths[0])), single)
    batch = model.predict(np.stack(images), batch_size=2)
    assert batch.shape == (2, SIZE, SIZE)
    np.testing.assert_array_equal(batch[0], single)
    mixed = model.predict([paths[1], images[0], images[0][:40, :48]], batch_size=2)
    assert [m.shape for m in mixed] == [(SIZE, SIZE), (SIZE, SIZE), (40, 48)]
    np.testing.assert_array_equal(mixed[0], batch[1])
    np.testing.assert_array_equal(mixed[1], single)
    assert model.predict([]) == []


@pytest.mark.parametrize("bad, message", [
    # what has one meaning is converted (tests/inference/test_odd_inputs.py); the rest names the rule
    (np.full((8, 8, 3), 255.0, np.float32), r"image: float values must lie in 0..1 \(got 255..255\)"),
    (np.zeros((8, 8, 2), np.uint8), r"expected shape HxWx3 \(RGB\), got \(8, 8, 2\)"),
    (np.zeros((8, 8, 3), np.int64), r"image: dtype int64 has no one meaning as pixel values"),
    (np.zeros((2, 8, 8, 2), np.uint8), r"images\[0\]: expected shape HxWx3"),
    ([np.zeros((8, 8, 3), np.uint8), 7], r"images\[1\]: expected an HxWx3 uint8 RGB array or an image path, got int"),
    (torch.zeros(8, 8, 2), r"got \(8, 8, 2\)"),
    ("missing.png", "file not found: missing.png"),
])
def test_predict_refuses_bad_input_with_one_clear_error(model, bad, message):
    with pytest.raises(segnet.SegnetError, match=message):
        model.predict(bad)


def test_overlay_and_colours_are_what_predict_writes(model, crops):
    from segnet.jobs.visualize import draw_legend, overlay_palette

    image = read_image(_frames(crops)[0])
    labels = model.predict(image)
    bright = overlay_palette(CAMVID.names, CAMVID.palette)  # overlays: colours that show on photos
    np.testing.assert_array_equal(model.overlay(image, labels, opacity=0.0), image)
    np.testing.assert_array_equal(model.overlay(image, labels, opacity=1.0), bright[labels])
    np.testing.assert_array_equal(model.colorize(labels), CAMVID.palette[labels])  # colour maps: the dataset's
    # one legend style: the class names on their colours along the bottom edge, size unchanged
    wide = cv2.resize(image, (256, 192), interpolation=cv2.INTER_NEAREST)
    wide_labels = model.predict(wide)
    plain, with_legend = model.overlay(wide, wide_labels), model.overlay(wide, wide_labels, legend=True)
    assert with_legend.shape == plain.shape and (with_legend != plain).any()
    np.testing.assert_array_equal(with_legend, draw_legend(plain, list(CAMVID.names), bright))
    with pytest.raises(segnet.SegnetError, match="labels are 32x32, the image 64x64"):
        model.overlay(image, labels[:32, :32])
    with pytest.raises(segnet.SegnetError, match="opacity"):
        model.overlay(image, labels, opacity=2)


def test_evaluate_matches_an_independent_confusion_matrix(model, crops, tmp_path):
    result = segnet.evaluate(model, crops, split="test", batch_size=2)
    confusion = np.zeros((CAMVID.num_classes,) * 2, np.int64)
    for path in _frames(crops):
        truth = read_label(crops / "testannot" / path.name).astype(np.int64)
        keep = truth != CAMVID.void_id
        np.add.at(confusion, (truth[keep], model.predict(path)[keep].astype(np.int64)), 1)
    np.testing.assert_array_equal(result.confusion, confusion)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    iou = np.where(union > 0, np.diag(confusion) / np.maximum(union, 1), np.nan)
    assert math.isclose(result.miou, np.nanmean(iou), rel_tol=1e-6)
    assert list(result.per_class_iou) == list(CAMVID.names) and result.num_images == 2
    assert "mIoU" in result.table()
    written = result.save(tmp_path / "eval")
    assert sorted(p.name for p in written) == ["confusion_matrix.png", "metrics.json", "per_class_iou.csv"]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["class_names"] == list(CAMVID.names)


def test_the_runtime_is_built_once_and_only_when_needed(tiny_ckpt, crops, tmp_path):
    model = segnet.load_model(tiny_ckpt, device="cpu", amp="off")
    assert "predictor" not in vars(model)  # loading reads the checkpoint only
    segnet.evaluate(model, crops, bn="batch")  # batch statistics run a torch module tree of their own
    segnet.export(model, tmp_path / "model.onnx")
    assert "predictor" not in vars(model)
    segnet.evaluate(model, crops)  # running statistics: the model's own runtime, kept for predict
    runtime = vars(model)["predictor"]
    model.predict(np.zeros((32, 32, 3), np.uint8))
    assert vars(model)["predictor"] is runtime and "float32" in model.describe()


def test_export_writes_onnx_with_the_classes(model, crops, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = segnet.export(model, tmp_path / "model.onnx")
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(props["class_names"]) == list(CAMVID.names)
    image = read_image(_frames(crops)[0])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"image": (image.transpose(2, 0, 1)[None] / 255.0).astype(np.float32)})
    agree = (logits[0].argmax(0) == model.predict(image)).mean()
    assert agree > 0.99, agree  # float rounding may flip a near-tie pixel
    exported = segnet.load_model(path, backend="onnxruntime")  # an exported file is a model source too
    assert exported.classes == CAMVID and (exported.predict(image) == model.predict(image)).mean() > 0.99
    with pytest.raises(segnet.SegnetError, match="already an exported model"):
        segnet.export(exported, tmp_path / "again.onnx")
    with pytest.raises(segnet.SegnetError, match="unknown export format 'tflite'"):
        segnet.export(model, tmp_path / "m.tflite", format="tflite")


def test_train_returns_the_run_and_its_best_model(crops, tmp_path):
    root = tmp_path / "data"  # the two test crops serve as every split
    for split in ("train", "val", "test"):
        for sub in ("", "annot"):
            (root / f"{split}{sub}").mkdir(parents=True)
            for path in (crops / f"test{sub}").iterdir():
                (root / f"{split}{sub}" / path.name).symlink_to(path)
    overrides = ["model.name=fc_densenet", f"data.root={root}", "data.num_workers=0", "train.epochs=1",
                 "train.crop_size=32", "train.batch_size=1", "finetune.enabled=false", "loss.class_weights=none",
                 "progress=false", "threads=1", f"run_dir={tmp_path / 'run'}"]
    overrides += [f"model.options.{k}={json.dumps(v)}" for k, v in TINY.items()]
    run = segnet.train(segnet.load_config(None, overrides))
    assert run.run_dir == tmp_path / "run" and run.best_checkpoint.is_file()
    assert run.best_miou is not None and 0.0 <= run.best_miou <= 1.0
    trained = run.load_model(device="cpu", amp="off")
    assert trained.predict(np.zeros((32, 32, 3), np.uint8)).shape == (32, 32)
    with pytest.raises(segnet.SegnetError, match="needs a config"):
        segnet.train({"train": {"epochs": 1}})


def test_model_card_reads_and_writes_the_checkpoint_entries(tiny_ckpt):
    from segnet.checkpoints.checkpoint import load_checkpoint
    from segnet.checkpoints.model_card import ModelCard

    ckpt = load_checkpoint(tiny_ckpt)
    card = ModelCard.from_checkpoint(ckpt, "tiny")
    assert (card.model_name, card.model_options, card.classes, card.input_scale) == ("fc_densenet", TINY, CAMVID, 1.0)
    assert ModelCard.from_checkpoint(card.to_checkpoint()) == card
    old = {k: v for k, v in ckpt.items() if k not in ("class_names", "palette", "normalization", "input_scale")}
    assert ModelCard.from_checkpoint(old).classes == CAMVID  # early checkpoints: CamVid, identity normalisation
    with pytest.raises(segnet.SegnetError, match="tiny: malformed 'normalization'"):
        ModelCard.from_checkpoint({**ckpt, "normalization": {"mean": [0.5]}}, "tiny")
    with pytest.raises(segnet.SegnetError, match="tiny: 11 classes but 2 class names"):
        ModelCard.from_checkpoint({**ckpt, "class_names": ["a", "b"]}, "tiny")
