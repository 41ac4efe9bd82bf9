"""``segnet evaluate --report`` and ``EvaluationResult.save(..., report=True)``: report.html beside
metrics.json, drawn from the frames as evaluate scored them (checked against per-frame NumPy
confusions of the same predictions), self-contained, and only when asked for."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import segnet
from segnet.cli import main
from segnet.data.camvid import read_label
from segnet.data.classes import load_classes
from segnet.errors import SegnetError
from segnet.jobs.frame_scores import FrameScores
from segnet.jobs.report import frame_miou

FRAMES = 4


@pytest.fixture(scope="module")
def val_root(camvid_root, tmp_path_factory) -> Path:
    """A CamVid root whose val split holds a few real frames (symlinks)."""
    root = tmp_path_factory.mktemp("camvid")
    for folder in ("val", "valannot"):
        (root / folder).mkdir()
    for image in sorted((camvid_root / "val").glob("*.png"))[::30][:FRAMES]:
        (root / "val" / image.name).symlink_to(image)
        (root / "valannot" / image.name).symlink_to(camvid_root / "valannot" / image.name)
    return root


def _numpy_frame_mious(ckpt: Path, root: Path) -> dict[str, float]:
    """Each frame's mIoU from its own NumPy confusion of ``Model.predict`` (running statistics)."""
    model = segnet.load_model(ckpt, device="cpu", amp="off")
    scores = {}
    for image in sorted((root / "val").glob("*.png")):
        truth = read_label(root / "valannot" / image.name).astype(np.int64)
        predicted = model.predict(str(image)).astype(np.int64)
        keep = truth < 11
        scores[image.stem] = frame_miou(np.bincount(truth[keep] * 11 + predicted[keep], minlength=121).reshape(11, 11))
    return scores


def _worst_table_names(page: str) -> list[str]:
    table = page[page.index('<table id="worst-frames">'):]
    return re.findall(r'<th scope="row">([^<]+)<br>', table[:table.index("</table>")])


def _assert_self_contained(page: str) -> None:
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources), [s[:40] for s in sources]
    assert "<script" not in page and "<link" not in page and "url(" not in page


def test_evaluate_report_command(tiny_model_ckpt, val_root, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(tiny_model_ckpt), "--data-root", str(val_root), "--split", "val",
                 "--device", "cpu", "--amp", "off", "--report", "--worst", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "report.html" in printed.splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "metrics.json", "per_class_iou.csv",
                                                     "report.html"]
    page = (out / "report.html").read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert 'id="iou-table"' in page and "Confusion matrix" in page and f"Per-frame mIoU ({FRAMES} frames)" in page
    for name in load_classes(val_root).names:
        assert f"<td>{name}</td>" in page
    assert "data:image/jpeg;base64," in page and "data:image/png;base64," in page
    expected = _numpy_frame_mious(tiny_model_ckpt, val_root)
    assert _worst_table_names(page) == sorted(expected, key=lambda n: (expected[n], n))[:2]
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"mIoU</dt><dd>{100 * metrics['miou']:.2f}" in page
    assert not {"frames", "worst_frames"} & set(metrics)  # per-frame data stays out of metrics.json


def test_no_report_without_the_flag(tiny_model_ckpt, val_root, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(tiny_model_ckpt), "--data-root", str(val_root), "--split", "val",
                 "--device", "cpu", "--amp", "off", "--out", str(out)]) == 0
    assert "report.html" not in capsys.readouterr().out
    assert not (out / "report.html").exists() and (out / "metrics.json").exists()


def test_negative_worst_is_refused(tiny_model_ckpt, val_root, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(tiny_model_ckpt), "--data-root", str(val_root), "--split", "val",
                 "--report", "--worst", "-1", "--out", str(out)]) == 2
    assert "--worst" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("options", [{"bn": "running", "batch_size": 3}, {"bn": "batch", "batch_size": 2}])
def test_api_frames_are_the_frames_scored(tiny_model_ckpt, val_root, tmp_path, options):
    """The per-frame confusions add up to the split's confusion, also with batch statistics, where a
    frame predicted alone would differ: the report shows what was scored."""
    result = segnet.evaluate(segnet.load_model(tiny_model_ckpt, device="cpu", amp="off"), val_root, split="val",
                             worst=3, **options)
    names = [name for name, _ in result.frames.confusions]
    assert names == sorted(p.stem for p in (val_root / "val").glob("*.png"))
    np.testing.assert_array_equal(sum(c for _, c in result.frames.confusions), result.confusion)
    worst = result.frames.worst()
    mious = dict(result.frames.mious())
    assert [w[0] for w in worst] == sorted(mious, key=lambda n: (mious[n], n))[:3]
    for name, rgb, truth, predicted in worst:
        assert rgb.shape == (*truth.shape, 3) and predicted.shape == truth.shape
        keep = truth < 11
        confusion = np.bincount(truth[keep] * 11 + predicted[keep].astype(np.int64), minlength=121).reshape(11, 11)
        assert frame_miou(confusion) == mious[name]
    paths = result.save(tmp_path / "eval", report=True)
    assert [p.name for p in paths][-1] == "report.html" and all(p.exists() for p in paths)
    page = paths[-1].read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert _worst_table_names(page) == [w[0] for w in worst]
    assert f"{options['bn']}" in result.describe() and result.describe() in page


def test_api_save_without_report_and_from_metrics(tiny_model_ckpt, val_root, tmp_path):
    result = segnet.evaluate(tiny_model_ckpt, val_root, split="val")
    assert result.frames is not None and result.frames.worst() == []  # worst=0: no pictures kept
    assert "report.html" not in [p.name for p in result.save(tmp_path / "plain")]
    page = result.save(tmp_path / "no_pictures", report=True)[-1].read_text(encoding="utf-8")
    assert "No frame pictures were kept" in page and 'id="worst-frames"' not in page
    rebuilt = segnet.EvaluationResult.from_report(result.report)
    with pytest.raises(SegnetError, match="per-frame"):
        rebuilt.save(tmp_path / "rebuilt", report=True)
    assert not (tmp_path / "rebuilt").exists()
    with pytest.raises(SegnetError, match="worst"):
        segnet.evaluate(tiny_model_ckpt, val_root, split="val", worst=-2)


def test_frame_scores_keep_only_the_worst():
    classes = load_classes()  # CamVid's: 11 classes, void 11
    scores = FrameScores(classes, keep_worst=2)
    truth = np.zeros((4, 4), np.uint8)
    for name, wrong in (("a", 0), ("b", 8), ("c", 2), ("d", 12), ("void", 0)):
        predicted = truth.copy()
        predicted.flat[:wrong] = 1
        label = np.full_like(truth, 11) if name == "void" else truth
        scores.add(name, np.zeros((4, 4, 3), np.uint8), label, predicted)
    assert [w[0] for w in scores.worst()] == ["d", "b"]  # the frame with no labelled pixel is never "worst"
    assert len(scores.confusions) == 5 and np.isnan(dict(scores.mious())["void"])
    assert FrameScores(classes).add("x", np.zeros((4, 4, 3), np.uint8), truth, truth) == 1.0

