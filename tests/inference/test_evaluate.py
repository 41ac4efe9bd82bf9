"""segnet.evaluate (the API ``segnet evaluate`` runs): metrics against an independent NumPy
confusion matrix on real frames, both BatchNorm protocols, the report files, failures."""

import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint, model_fields, model_from_checkpoint, save_checkpoint
from segnet.data.classes import CLASS_NAMES
from segnet.data.images import read_image, read_label
from segnet.models import create_model

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
NORM = {"mean": [0.39, 0.41, 0.42], "std": [0.3, 0.31, 0.29]}
FRAMES = 3


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(3)
    model = create_model("fc_densenet", 11, **TINY)
    # Classifier bias towards frequent classes, so that several classes get predicted.
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([1.0, 1.2, -1, 1.5, 0.5, 0.8, -1, -1, 0.3, -1, -1]))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model_fields(model, "fc_densenet", TINY, normalization=NORM))
    return path


@pytest.fixture(scope="module")
def small_root(camvid_root, tmp_path_factory) -> Path:
    """A CamVid root whose test split holds a few real frames (symlinks)."""
    root = tmp_path_factory.mktemp("camvid")
    (root / "test").mkdir()
    (root / "testannot").mkdir()
    for image in sorted((camvid_root / "test").glob("*.png"))[::80][:FRAMES]:
        (root / "test" / image.name).symlink_to(image)
        (root / "testannot" / image.name).symlink_to(camvid_root / "testannot" / image.name)
    return root


def _numpy_metrics(ckpt_path: Path, root: Path, batch_size: int, batch_stats: bool = False) -> dict:
    model = model_from_checkpoint(load_checkpoint(ckpt_path))
    model.eval()
    if batch_stats:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.train()
    names = sorted(p.name for p in (root / "test").iterdir())
    mean, std = np.array(NORM["mean"]), np.array(NORM["std"])
    confusion = np.zeros((11, 11), np.int64)
    for first in range(0, len(names), batch_size):
        chunk = names[first:first + batch_size]
        x = np.stack([(read_image(root / "test" / n) / 255.0 - mean) / std for n in chunk]).transpose(0, 3, 1, 2)
        with torch.no_grad():
            pred = model(torch.from_numpy(x).float()).argmax(1).numpy()
        for p, n in zip(pred, chunk):
            label = read_label(root / "testannot" / n).astype(np.int64)
            keep = label != 11
            confusion += np.bincount(label[keep] * 11 + p[keep], minlength=121).reshape(11, 11)
    return {"confusion": confusion, **_from_confusion(confusion)}


def _from_confusion(confusion: np.ndarray) -> dict:
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(confusion.sum(1) > 0, tp / confusion.sum(1), np.nan)
    return {"iou": iou, "miou": np.nanmean(iou), "pixel_accuracy": tp.sum() / confusion.sum(),
            "mean_class_accuracy": np.nanmean(acc)}


def _evaluate(ckpt, root, out, **options) -> segnet.EvaluationResult:
    """segnet.evaluate on the CPU in float32, its report saved into ``out``."""
    result = segnet.evaluate(segnet.load_model(ckpt, device="cpu", amp="off"), root, **options)
    result.save(out)
    return result


def test_metrics_match_numpy(tiny_ckpt, small_root, tmp_path):
    result = _evaluate(tiny_ckpt, small_root, tmp_path / "eval", batch_size=2)
    printed = result.table()
    for name in CLASS_NAMES + ["mIoU", "global accuracy", "mean class accuracy"]:
        assert name in printed

    expected = _numpy_metrics(tiny_ckpt, small_root, batch_size=2)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_images"] == FRAMES and metrics["split"] == "test"
    confusion = np.array(metrics["confusion_matrix"])
    np.testing.assert_array_equal(result.confusion, confusion)  # the object and its saved report agree
    assert (result.miou == metrics["miou"]
            and result.per_class_iou["Car"] == pytest.approx(metrics["per_class_iou"]["Car"], nan_ok=True))
    # Same predictions up to float rounding at a few near-tie pixels (other op order).
    assert np.abs(confusion - expected["confusion"]).sum() <= 1e-4 * confusion.sum()
    got_iou = np.array([np.nan if v is None else v for v in metrics["per_class_iou"].values()])
    assert list(metrics["per_class_iou"]) == CLASS_NAMES
    assert np.allclose(got_iou, expected["iou"], equal_nan=True, atol=1e-4)
    assert (~np.isnan(expected["iou"])).sum() >= 3  # several classes really compared
    for key in ("miou", "pixel_accuracy", "mean_class_accuracy"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-4)
    # and the formulas exactly, on segnet's own confusion matrix
    exact = _from_confusion(confusion)
    assert np.allclose(got_iou, exact["iou"], equal_nan=True, atol=1e-12)
    for key in ("miou", "pixel_accuracy", "mean_class_accuracy"):
        assert metrics[key] == pytest.approx(exact[key], abs=1e-12)
    assert f"{100 * metrics['miou']:.2f}" in printed

    with open(tmp_path / "eval" / "per_class_iou.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == CLASS_NAMES
    for row, value in zip(rows, expected["iou"]):
        assert (row["iou"] == "") if math.isnan(value) else float(row["iou"]) == pytest.approx(value, abs=1e-6)
    png = (tmp_path / "eval" / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_batch_statistics(tiny_ckpt, small_root, tmp_path):
    _evaluate(tiny_ckpt, small_root, tmp_path / "eval", bn="batch", batch_size=3)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    expected = _numpy_metrics(tiny_ckpt, small_root, batch_size=3, batch_stats=True)
    assert metrics["settings"]["bn"] == "batch"
    confusion = np.array(metrics["confusion_matrix"])
    assert np.abs(confusion - expected["confusion"]).sum() <= 1e-4 * confusion.sum()
    # the checkpoint's running statistics give clearly different predictions
    running = _numpy_metrics(tiny_ckpt, small_root, batch_size=3)
    assert np.abs(running["confusion"] - expected["confusion"]).sum() > 0.01 * confusion.sum()


def test_paper_protocol_is_one_switch(tiny_ckpt, small_root, tmp_path):
    """FC-DenseNet's test script: batch statistics over batches of 10 frames, void ignored."""
    result = _evaluate(tiny_ckpt, small_root, tmp_path / "paper", protocol="paper", bn="running", batch_size=2)
    assert "protocol paper: bn batch, batch 10" in result.describe()  # the protocol's own, whatever was passed
    metrics = json.loads((tmp_path / "paper" / "metrics.json").read_text())
    assert metrics["settings"]["protocol"] == "paper" and metrics["settings"]["batch_size"] == 10
    assert "test.py" in metrics["settings"]["protocol_source"]
    expected = _numpy_metrics(tiny_ckpt, small_root, batch_size=10, batch_stats=True)
    confusion = np.array(metrics["confusion_matrix"])
    assert np.abs(confusion - expected["confusion"]).sum() <= 1e-4 * confusion.sum()
    one_at_a_time = _numpy_metrics(tiny_ckpt, small_root, batch_size=1, batch_stats=True)
    assert np.abs(one_at_a_time["confusion"] - expected["confusion"]).sum() > 0.01 * confusion.sum()
    _evaluate(tiny_ckpt, small_root, tmp_path / "standard")
    standard = json.loads((tmp_path / "standard" / "metrics.json").read_text())["settings"]
    assert (standard["protocol"], standard["bn"], standard["batch_size"]) == ("standard", "running", 2)


def test_paper_protocol_per_model():
    from segnet.jobs.evaluate import paper_protocol

    assert (paper_protocol("fc_densenet103")["bn"], paper_protocol("fc_densenet103")["batch_size"]) == ("batch", 10)
    assert (paper_protocol("fc_log_densenet103")["bn"],
            paper_protocol("fc_log_densenet103")["batch_size"]) == ("running", 1)


@pytest.mark.parametrize("options, message", [
    ({"bn": "moving"}, "bn must be one of running, batch, got 'moving'"),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ({"protocol": "tf"}, "protocol must be one of standard, paper, got 'tf'"),
])
def test_bad_values_name_the_parameter(tiny_ckpt, small_root, options, message):
    with pytest.raises(segnet.SegnetError, match=re.escape(message)):
        segnet.evaluate(tiny_ckpt, small_root, **options)


def test_failure_raises_before_any_report(tiny_ckpt, small_root, tmp_path):
    root = tmp_path / "broken"
    (root / "test").mkdir(parents=True)
    (root / "testannot").mkdir()
    for p in (small_root / "test").iterdir():
        (root / "test" / p.name).symlink_to(p.resolve())
        (root / "testannot" / p.name).symlink_to((small_root / "testannot" / p.name).resolve())
    last = sorted((root / "test").iterdir())[-1]
    last.unlink()
    last.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(segnet.SegnetError, match=f"{last.name}.*cannot decode|cannot decode.*{last.name}"):
        _evaluate(tiny_ckpt, root, tmp_path / "eval")
    assert not (tmp_path / "eval").exists()
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
    # a model with another class count is refused before any work
    ckpt = dict(load_checkpoint(tiny_ckpt), num_classes=12, model=create_model("fc_densenet", 12, **TINY).state_dict())
    save_checkpoint(tmp_path / "c12.pt", ckpt)
    with pytest.raises(segnet.SegnetError, match="12 classes"):
        _evaluate(tmp_path / "c12.pt", small_root, tmp_path / "eval")


def test_save_is_all_or_nothing(tiny_ckpt, small_root, tmp_path, monkeypatch):
    import segnet.jobs.evaluate as evaluation

    result = segnet.evaluate(segnet.load_model(tiny_ckpt, device="cpu", amp="off"), small_root)

    def broken_figure(*args, **kwargs):
        raise segnet.SegnetError("figure failed")

    monkeypatch.setattr(evaluation, "confusion_matrix_figure", broken_figure)
    with pytest.raises(segnet.SegnetError, match="figure failed"):
        result.save(tmp_path / "eval")  # metrics.json and the CSV were written first: neither may stay
    assert list(tmp_path.iterdir()) == []
