"""The evaluation report renderer on synthetic data: per-frame mIoU, worst frames, one
self-contained HTML file (every picture embedded, nothing fetched)."""

import math
import re

import numpy as np
import pytest

from segnet.jobs.report import error_map, frame_miou, per_frame_miou, render_report, worst_frame_names, write_report_html

NAMES = ["Sky", "Road", "Car"]
PALETTE = [[128, 128, 128], [128, 64, 128], [64, 0, 128], [0, 0, 0]]  # last row: void, ignored


def synthetic_report_inputs(frames: int = 6, worst: int = 3) -> dict:
    rng = np.random.default_rng(0)
    frame_mious, worst_frames, confusion = [], [], np.zeros((3, 3), np.int64)
    for i in range(frames):
        truth = rng.integers(0, 4, (36, 48)).astype(np.uint8)  # 3 = void
        prediction = np.where(rng.random((36, 48)) < i / frames, rng.integers(0, 3, (36, 48)), truth).astype(np.uint8)
        prediction[truth == 3] = 0
        valid = truth < 3
        frame = np.bincount(3 * truth[valid].astype(int) + prediction[valid], minlength=9).reshape(3, 3)
        confusion += frame
        frame_mious.append((f"frame_{i}", frame_miou(frame)))
        worst_frames.append((f"frame_{i}", rng.integers(0, 256, (36, 48, 3), dtype=np.uint8), truth, prediction))
    hits = np.diag(confusion)
    ious = hits / (confusion.sum(0) + confusion.sum(1) - hits)
    names = worst_frame_names(frame_mious, worst)
    return dict(class_names=NAMES, palette=PALETTE, confusion=confusion, per_class_iou=dict(zip(NAMES, ious)),
                frame_mious=frame_mious, worst_frames=[w for w in worst_frames if w[0] in names],
                metadata={"title": "fc_densenet56 on CamVid test", "mIoU": f"{100 * ious.mean():.1f}"})


def test_frame_miou_counts_only_classes_present_in_truth_or_prediction():
    confusion = np.array([[8, 2, 0], [0, 0, 0], [0, 0, 0]])  # Sky 8 right, 2 called Road; no Car anywhere
    assert frame_miou(confusion) == pytest.approx((8 / 10 + 0 / 2) / 2)
    assert frame_miou(np.eye(3) * 5) == 1.0
    assert math.isnan(frame_miou(np.zeros((3, 3))))
    assert per_frame_miou([("a", np.eye(3)), ("b", np.zeros((3, 3)))])[0] == ("a", 1.0)


def test_worst_frames_are_the_lowest_scores_without_empty_frames():
    scores = [("a", 0.9), ("b", 0.1), ("c", math.nan), ("d", 0.5)]
    assert worst_frame_names(scores, 2) == ["b", "d"]


def test_error_map_marks_wrong_right_and_void_pixels():
    truth = np.array([[0, 1, 3]], np.uint8)
    picture = error_map(truth, np.array([[0, 2, 0]], np.uint8), num_classes=3)
    assert picture[0, 0].tolist() == [40, 40, 40] and picture[0, 1].tolist() == [230, 25, 25]
    assert picture[0, 2].tolist() == [255, 255, 255]


def test_report_is_one_self_contained_file(tmp_path):
    path = write_report_html(tmp_path / "report.html", **synthetic_report_inputs())
    text = path.read_text()
    assert not re.search(r'(src|href)="(?!data:)', text)  # every picture inline; no link leaves the file
    assert "http" not in text.replace("http-equiv", "")
    assert text.count('<tr><td>') == 3 and "frame_5" in text  # the IoU table; the worst frame shown
    assert text.count("data:image/") == 3 + 4 * 3 and not list(tmp_path.glob(".*partial"))


def test_report_refuses_mismatched_shapes():
    inputs = synthetic_report_inputs()
    inputs["confusion"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="3 classes need a 3x3 confusion matrix"):
        render_report(**inputs)
