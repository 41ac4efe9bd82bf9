"""The evaluation report renderer on synthetic data: per-frame mIoU, worst frames, one
self-contained HTML file (every picture embedded, nothing fetched)."""

import math
import re

import numpy as np
import pytest

from segnet.jobs.report import (error_map, frame_miou, per_frame_miou, render_report, worst_frame_names,
                                write_report_html)
from tests.serve.conftest import synthetic_report_inputs


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
